# bash completion for recidivist(8).
# Generated from the command definitions (internal/docgen); do not edit. Update with: make man

_recidivist() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
	# --flag=value: bash splits it at the "=".
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	fi
	local cmd= i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	case $prev in
	--backend)
		COMPREPLY=($(compgen -W "ipset nftables" -- "$cur"))
		return
		;;
	--config)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--iptables-variant)
		COMPREPLY=($(compgen -W "auto nft legacy" -- "$cur"))
		return
		;;
	--log)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--log-format)
		COMPREPLY=($(compgen -W "text json" -- "$cur"))
		return
		;;
	--log-level)
		COMPREPLY=($(compgen -W "debug info warn error" -- "$cur"))
		return
		;;
	--notify-format)
		COMPREPLY=($(compgen -W "json slack text" -- "$cur"))
		return
		;;
	--state-dir)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	--target)
		COMPREPLY=($(compgen -W "DROP REJECT" -- "$cur"))
		return
		;;
	--ban-time | --chain | --comment | --exclude-jails | --export-allow | --export-listen | --export-token-file | --fleet-accept | --fleet-host | --fleet-name | --fleet-password-file | --fleet-redis | --fleet-tls-ca | --fleet-user | --hit-sample-interval | --idle | --idle-unblock | --ignore | --jails | --journal-directory | --journal-match | --log-timezone | --maxelem | --metrics-listen | --net-max-ranges | --net-prefix-v4 | --net-prefix-v6 | --net-threshold-v4 | --net-threshold-v6 | --notify-exec | --notify-exec-timeout | --notify-exec-user | --notify-group-max | --notify-group-wait | --notify-header | --notify-rate | --notify-retry-for | --notify-url | --ports | --reconcile-interval | --set-name | --threshold | --to | --top | --window)
		return # a value of the user's own
		;;
	esac

	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "run restore status list offenders ban unban scan check notify teardown migrate fleet --help --version" -- "$cur"))
		return
	fi
	local opts= files=
	case $cmd in
	run)
		opts="--help --log --log-timezone --journal-match --journal-directory --threshold --window --ban-time --jails --exclude-jails --ignore --set-name --chain --target --ports --maxelem --state-dir --reconcile-interval --dry-run --log-level --log-format --metrics-listen --hit-sample-interval --idle-unblock --idle-unblock-manual --export-listen --export-token-file --export-allow --backend --iptables-variant --fleet-redis --fleet-name --fleet-host --fleet-user --fleet-password-file --fleet-tls-ca --fleet-accept --notify-exec --notify-exec-timeout --notify-exec-user --notify-url --notify-format --notify-header --notify-retry-for --notify-group-wait --notify-group-max --notify-rate --net-escalation --net-prefix-v4 --net-threshold-v4 --net-prefix-v6 --net-threshold-v6 --net-max-ranges --config"
		;;
	restore)
		opts="--help --rules-only --ignore --backend --iptables-variant --set-name --chain --target --ports --maxelem --state-dir --log-level --log-format --config"
		;;
	status)
		opts="--help --json --state-dir --ignore --threshold --window --backend --iptables-variant --set-name --chain --target --ports --maxelem --hit-sample-interval --idle-unblock --log-level --log-format --config"
		;;
	list)
		opts="--help --json --idle --state-dir --ignore --idle-unblock-manual --backend --iptables-variant --set-name --chain --target --ports --maxelem --log-level --log-format --config"
		;;
	offenders)
		opts="--help --top --json --nets --state-dir --ignore --threshold --window --net-escalation --net-prefix-v4 --net-threshold-v4 --net-prefix-v6 --net-threshold-v6 --net-max-ranges --log-level --log-format --config"
		;;
	ban)
		opts="--help --comment --force --ignore --backend --iptables-variant --set-name --chain --target --ports --maxelem --state-dir --dry-run --log-level --log-format --config"
		;;
	unban)
		opts="--help --backend --iptables-variant --set-name --chain --target --ports --maxelem --state-dir --dry-run --net-threshold-v4 --net-threshold-v6 --log-level --log-format --config"
		;;
	scan)
		opts="--help --json --journal --log-timezone --journal-match --journal-directory --threshold --window --jails --exclude-jails --ignore --log-level --log-format --config"
		files=1
		;;
	check)
		opts="--help --log --log-timezone --journal-match --journal-directory --threshold --window --ban-time --jails --exclude-jails --ignore --set-name --chain --target --ports --maxelem --state-dir --reconcile-interval --dry-run --log-level --log-format --metrics-listen --hit-sample-interval --idle-unblock --idle-unblock-manual --export-listen --export-token-file --export-allow --backend --iptables-variant --fleet-redis --fleet-name --fleet-host --fleet-user --fleet-password-file --fleet-tls-ca --fleet-accept --notify-exec --notify-exec-timeout --notify-exec-user --notify-url --notify-format --notify-header --notify-retry-for --notify-group-wait --notify-group-max --notify-rate --net-escalation --net-prefix-v4 --net-threshold-v4 --net-prefix-v6 --net-threshold-v6 --net-max-ranges --config"
		;;
	notify)
		opts="--help --notify-exec --notify-exec-timeout --notify-exec-user --notify-url --notify-format --notify-header --notify-retry-for --notify-group-wait --notify-group-max --notify-rate --state-dir --log-level --log-format --config"
		;;
	teardown)
		opts="--help --backend --iptables-variant --set-name --chain --target --ports --maxelem --state-dir --log-level --log-format --config"
		;;
	migrate)
		opts="--help --to --backend --iptables-variant --ignore --set-name --chain --target --ports --maxelem --state-dir --log-level --log-format --config"
		;;
	fleet)
		opts="--help"
		;;
	esac
	if [[ $cur == -* || -z $files ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	else
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

complete -F _recidivist recidivist
