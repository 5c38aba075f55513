# A raw U+2028 in a plain value: YAML (libyaml and Kubernetes' go-yaml alike) breaks the
# line there, so the text after it is a key of its own: here a second 'kind'.
# expect: EINVAL duplicate key 'kind'
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: small\n  database: app\342\200\250kind: ClusterRoleBinding\n"
