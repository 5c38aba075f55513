# A UTF-8 byte order mark before the request: allowed at the start, as in Kubernetes.
# expect: OK
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
printf "\357\273\277"; seed; printf "  size: small\n"
