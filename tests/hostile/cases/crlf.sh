# CRLF line ends (a file from Windows): YAML allows them.
# expect: OK
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed | sed "s/\$/\r/"; printf "  size: large\r\n"
