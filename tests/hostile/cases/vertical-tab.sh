# A vertical tab in a value.
# expect: EINVAL :7:11: not valid YAML: control characters are not allowed (0x0B)
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: sm\vall\n"
