# A UTF-16 surrogate encoded in UTF-8.
# expect: EINVAL not valid YAML
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: sm\355\240\200all\n"
