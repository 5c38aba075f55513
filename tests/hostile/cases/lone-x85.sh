# A lone 0x85 byte (Latin-1's NEL): not UTF-8.
# expect: EINVAL :7:11: not valid YAML: invalid leading UTF-8 octet (0x85)
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: sm\205kind: ClusterRoleBinding\n"
