# A raw U+2029 then a document marker: a second document.
# expect: EINVAL holds 2 YAML documents
# expect-validate: EINVAL (document 2)
# absent: ClusterRoleBinding
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: small\342\200\251---\342\200\251apiVersion: rbac.authorization.k8s.io/v1\342\200\251kind: ClusterRoleBinding\n"
