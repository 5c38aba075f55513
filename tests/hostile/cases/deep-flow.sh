# Ten thousand nested flow sequences.
# expect: EINVAL nested deeper than 256 levels
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  x: "; head -c 10000 /dev/zero | tr "\0" "["; head -c 10000 /dev/zero | tr "\0" "]"; echo
