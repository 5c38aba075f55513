# Two MiB: over max_input (1 MiB by default everywhere).
# expect: EFBIG larger than
# expect-mount: EFBIG larger than max_input
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  size: small\n  x: \""; head -c 2097152 /dev/zero | tr "\0" a; printf "\"\n"
