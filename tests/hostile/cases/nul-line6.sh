# A NUL byte at line 6: reported at its line and column, not at line 1.
# expect: EINVAL :6:11: not valid YAML: a NUL byte (0x00) is not allowed
printf 'apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\nmetadata:\n  name: my-db\nspec:\n  size: sm\0all\n'
