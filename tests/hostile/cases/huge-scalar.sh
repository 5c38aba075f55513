# A 1,000,000-byte value, just under the 1 MiB limit: refused by the schema, and the
# message shows only its start.
# expect: EINVAL spec.database: must match ^[a-z_][a-z0-9_]{0,62}$ (got "aaaaaaaa
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
seed; printf "  database: "; head -c 1000000 /dev/zero | tr "\0" a; echo
