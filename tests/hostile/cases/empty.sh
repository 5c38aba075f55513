# An empty file is no request.
# expect: EINVAL holds no YAML document
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
:
