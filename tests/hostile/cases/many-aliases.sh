# Many small aliases that stay under the node limit: accepted (pruned, with a warning).
# expect: OK unknown field "spec.x"
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  x: &a [1, 2, 3]\n  size: small\n"; printf "  y%d: *a\n" $(seq 200)
