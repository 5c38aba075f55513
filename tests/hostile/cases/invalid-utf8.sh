# A byte that is not UTF-8.
# expect: EINVAL :7:11: not valid YAML: invalid leading UTF-8 octet (0xFF)
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: sm\377all\n"
