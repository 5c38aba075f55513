# bash completion for kratixfs(8): its commands, their options, and the files or folders they
# take. Installed in <prefix>/share/bash-completion/completions, where bash-completion loads it
# on the first Tab after "kratixfs"; self-contained, so `source` works without bash-completion.

_kratixfs_files()
{
	local IFS=$'\n'
	COMPREPLY+=($(compgen -f -- "$1"))
}

_kratixfs_dirs()
{
	local IFS=$'\n'
	COMPREPLY+=($(compgen -d -- "$1"))
}

_kratixfs()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmd=${COMP_WORDS[1]}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ] && [[ $cur != -* ]]; then
		# A command, or the mount point of the daemon (an existing folder).
		COMPREPLY=($(compgen -W "init promise render test validate" -- "$cur"))
		_kratixfs_dirs "$cur"
		return
	fi
	case $cmd in
	init)
		# init promise NAME --group G --kind K [--version V] [--dir DIR]
		case $prev in
		--dir)
			_kratixfs_dirs "$cur"
			return
			;;
		--group | --kind | --version)
			return
			;;
		esac
		# --version after "promise" is the API version, not kratixfs's.
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--group --kind --version --dir -h --help" -- "$cur"))
		elif [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "promise" -- "$cur"))
		fi
		;;
	render)
		case $prev in
		-f | --file)
			[ "$cur" = "" ] || [ "$cur" = "-" ] && COMPREPLY=(-)
			_kratixfs_files "$cur"
			return
			;;
		--promises | --promise | --kratix)
			_kratixfs_dirs "$cur"
			return
			;;
		--max-input | --container)
			return
			;;
		esac
		COMPREPLY=($(compgen -W "-f --file --promises --promise --kratix --container --max-input -h --help -V --version" -- "$cur"))
		;;
	promise)
		# promise --image IMAGE PROMISE_DIR
		[ "$prev" = "--image" ] && return
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--image -h --help -V --version" -- "$cur"))
		else
			_kratixfs_dirs "$cur"
		fi
		;;
	test)
		case $prev in
		--run)
			return
			;;
		--junit)
			_kratixfs_files "$cur"
			return
			;;
		--output)
			COMPREPLY=($(compgen -W "text json" -- "$cur"))
			return
			;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--update --run --junit --output -h --help -V --version" -- "$cur"))
		else
			_kratixfs_dirs "$cur"
		fi
		;;
	validate)
		[ "$prev" = "--max-input" ] && return
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--max-input -h --help -V --version" -- "$cur"))
		else
			_kratixfs_files "$cur"
		fi
		;;
	*)
		# The daemon: [-f] [-d] [-s] [-o OPTIONS] [SOURCE] MOUNTPOINT.
		if [ "$prev" = "-o" ]; then
			local opts="promises= state= max_input= git= git_branch= git_push= destinations="
			opts+=" exec_timeout= images= log_level= allow_other ro"
			# The options are one comma-separated word: complete its last one.
			local head= last=$cur
			if [[ $cur == *,* ]]; then
				head=${cur%,*},
				last=${cur##*,}
			fi
			COMPREPLY=($(compgen -P "$head" -W "$opts" -- "$last"))
			compopt -o nospace 2>/dev/null
		elif [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-f -d -s -o -h --help -V --version" -- "$cur"))
		else
			_kratixfs_dirs "$cur"
		fi
		;;
	esac
}
complete -o filenames -F _kratixfs kratixfs
