# An empty file is no request.
# expect: EINVAL holds no YAML document
# xfail-mount: issue 9 item 12, cp /dev/null object.yaml returns 0 (another branch)
seed() { printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\n  namespace: my-namespace\nspec:\n'; }
:
