/* The `tern` command. */
#include <stdio.h>
#include <string.h>

#include "tools.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: tern demo                       run three stacks on in-memory links (no root)\n"
		"       tern trace [--cc reno|cubic|bbr] [--rate 100mbit] [--delay 20ms] [--loss 1%%] [--bytes 50M]\n"
		"                  [--flows N] [-o PREFIX] ...   cwnd, RTT and rates over time, as CSV and SVG\n"
		"                                       (no root; tern trace --help)\n"
		"       tern host [options]             run a host on TAP/TUN devices (tern host --help)\n"
		"       tern [-n NAME] ping [-c N] [-i S] [-s N] ADDR\n"
		"       tern [-n NAME] get [-i] [-I] [-X M] [-d DATA] [-o FILE] [--fastopen] http://A.B.C.D[:PORT]/PATH\n"
		"       tern [-n NAME] stat [--nstat]   counters, like netstat -s / nstat\n"
		"       tern [-n NAME] sysctl [-w key=value | key]...\n"
		"       tern [-n NAME] route [add|del PREFIX [via GW] [dev IF] [metric N]]\n"
		"       tern [-n NAME] neigh            like ip neigh\n"
		"       tern [-n NAME] addr             like ip addr\n"
		"       tern [-n NAME] ss [-i]          TCP sockets, like ss -tan; -i: TCP_INFO, like ss -tani\n"
		"       tern [-n NAME] tc [-s] qdisc|class|filter ...   traffic control, as Linux's tc\n"
		"       tern [-n NAME] tc -f FILE        tc commands from a file, one a line (as tc -batch)\n"
		"       tern [-n NAME] conntrack -L|-S|-C|-F|--enable|--disable   like conntrack(8)\n"
		"       tern [-n NAME] iptables [-t TABLE] -A|-I|-D|-R|-N|-X|-F|-Z|-P|-L|-S ...   as iptables\n"
		"       tern iptables --file FILE ...   edit an iptables-save FILE instead of a host\n"
		"       tern [-n NAME] iptables-save [-t TABLE] [-c] | iptables-restore [--noflush] [-c] [FILE]\n"
		"       tern [-n NAME] ipset create|add|del|test|list|destroy ...   hash:ip, hash:net, bitmap:port\n"
		"       tern [-n NAME] iptables-log     the LOG target's last lines\n"
		"  -n NAME selects the running host (default \"tern\"), as ip -n selects a namespace.\n");
}

int main(int argc, char **argv)
{
	const char *name = "tern";
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-n") == 0) {
		name = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		usage();
		return 2;
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "host") == 0)
		return cmd_host(argc - i, argv + i);
	if (strcmp(cmd, "demo") == 0)
		return cmd_demo(argc - i, argv + i);
	if (strcmp(cmd, "trace") == 0)
		return cmd_trace(argc - i, argv + i);
	if (strcmp(cmd, "tc") == 0)
		return cmd_tc(name, argc - i, argv + i);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage();
		return 0;
	}
	if (!strcmp(cmd, "iptables") || !strcmp(cmd, "iptables-save") || !strcmp(cmd, "iptables-restore") ||
	    !strcmp(cmd, "ipset") || !strcmp(cmd, "iptables-log"))
		return cmd_iptables(name, argc - i, argv + i);
	static const char *const remote[] = {"ping", "get", "stat", "sysctl", "route", "neigh", "addr", "link", "ss", "conntrack"};
	for (size_t k = 0; k < sizeof(remote) / sizeof(remote[0]); k++)
		if (strcmp(cmd, remote[k]) == 0)
			return ctl_client(name, argc - i, argv + i);
	fprintf(stderr, "tern: unknown command \"%s\"\n", cmd);
	usage();
	return 2;
}
