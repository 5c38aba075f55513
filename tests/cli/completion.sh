#!/usr/bin/env bash
# The shell completions: bash's answers for commands, options and -o values, checked by calling
# its function as bash-completion would; every option in each command's --help is offered; the
# zsh file is valid zsh (where zsh is installed) and names the same options.
. "$(dirname "$0")/lib.sh"
BASH_COMP=$SOURCE_ROOT/completions/kratixfs.bash
ZSH_COMP=$SOURCE_ROOT/completions/_kratixfs
cd "$WORK" || exit 1
mkdir -p promises/pg mnt
touch request.yaml

# complete WORD...: what bash offers for the last word of "kratixfs WORD...", one per line.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=(kratixfs "$@"); COMP_CWORD=$#; _kratixfs
		printf "%s\n" "${COMPREPLY[@]}"' sh "$BASH_COMP" "$@"
}
# expect_completion DESCRIPTION WANTED WORD...: the completions of WORD... are exactly WANTED.
expect_completion() {
	local what=$1 want=$2; shift 2
	local got
	got=$(complete_words "$@" | sort | tr '\n' ' ')
	[ "$got" = "$want " ] && pass || fail "$what: got '$got', wanted '$want '"
}
expect_completion "commands and folders" "init mnt promise promises render test validate" ""
expect_completion "init: what it makes" "promise" init ""
expect_completion "init promise's options" "--dir --group --help --kind --version" init promise db --
expect_completion "init --dir: folders" "promises" init promise db --dir pro
expect_completion "a command by its start" "render" re
expect_completion "render's options" "--container --file --help --kratix --max-input --promise --promises --version" render --
expect_completion "render -f: - and files" "- mnt promises request.yaml" render -f ""
expect_completion "render --promises: folders" "promises" render --promises pro
expect_completion "test --output" "json text" test --output ""
expect_completion "test: promise folders" "promises/pg" test promises/
expect_completion "the daemon's -o, one of several" "state=/x,git= state=/x,git_branch= state=/x,git_push=" -o state=/x,git
expect_completion "the daemon's options" "--help --version -V -d -f -h -o -s" -

# Every long option in a command's --help is offered by both files.
for cmd in init promise render test validate; do
	"$KRATIXFS" $cmd --help | grep -oE -- '--[a-z][a-z-]+' | sort -u >"$WORK/opts"
	complete_words $cmd -- | sort -u >"$WORK/offered"
	while read -r o; do
		grep -qxF -- "$o" "$WORK/offered" && pass || fail "bash does not offer kratixfs $cmd $o"
		grep -qF -- "$o" "$ZSH_COMP" && pass || fail "zsh does not know kratixfs $cmd $o"
	done <"$WORK/opts"
done
# And every -o option of the mount.
"$KRATIXFS" --help | sed -n 's/^ *-o \([a-z_]*\)=.*/\1/p' | sort -u >"$WORK/mopts"
[ -s "$WORK/mopts" ] && pass || fail "no -o option found in kratixfs --help"
while read -r o; do
	complete_words -o "" | grep -qx "$o=" && pass || fail "bash does not offer -o $o="
	grep -q "'$o\[" "$ZSH_COMP" && pass || fail "zsh does not offer -o $o="
done <"$WORK/mopts"

head -n 1 "$ZSH_COMP" | grep -qx '#compdef kratixfs' && pass || fail "_kratixfs lacks #compdef kratixfs"
if command -v zsh >/dev/null; then
	zsh -n "$ZSH_COMP" && pass || fail "_kratixfs is not valid zsh"
else
	echo "note: zsh is missing; _kratixfs is checked by grep only"
fi
bash -n "$BASH_COMP" && pass || fail "kratixfs.bash is not valid bash"
finish
