# 300 nested block mappings.
# expect: EINVAL nested deeper than 256 levels
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; for i in $(seq 300); do printf "%*sk:\n" $((2 * i)) ""; done; printf "%*sv: 1\n" 602 ""
