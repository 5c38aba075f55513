# A raw NEL (U+0085) in a plain value: a line break too.
# expect: EINVAL duplicate key 'kind'
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: small\n  database: app\302\205kind: ClusterRoleBinding\n"
