# An overlong UTF-8 form of '/'.
# expect: EINVAL :7:11: not valid YAML: invalid length of a UTF-8 sequence (0xC0)
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: sm\300\257all\n"
