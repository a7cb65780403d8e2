/* The iptables command line and the iptables-save/restore format: each
 * option as -S prints it, each error as iptables words it, nothing
 * changed by a failed command, restore/save round trips byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/ipt.h"

/* Split on spaces; "..." groups (no escapes needed here). */
static int split(char *line, char **argv, int max)
{
	int n = 0;
	char *p = line;
	while (*p && n < max) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p == '"') {
			argv[n++] = ++p;
			while (*p && *p != '"')
				p++;
		} else {
			argv[n++] = p;
			while (*p && *p != ' ')
				p++;
		}
		if (*p)
			*p++ = 0;
	}
	return n;
}

static char outbuf[65536], errbuf[4096];

/* Run "iptables ARGS" on m; output and errors into outbuf/errbuf. */
static int ipt(struct tn_ipt_model *m, const char *cmd)
{
	char line[1024];
	snprintf(line, sizeof(line), "iptables %s", cmd);
	char *argv[128];
	int argc = split(line, argv, 128);
	FILE *o = fmemopen(outbuf, sizeof(outbuf), "w"), *e = fmemopen(errbuf, sizeof(errbuf), "w");
	int rc = tn_ipt_command(m, argc, argv, o, e, NULL);
	fclose(o);
	fclose(e);
	return rc;
}

static char *save(const struct tn_ipt_model *m, bool counters)
{
	char *b = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&b, &n);
	tn_ipt_save(m, -1, counters, f);
	fclose(f);
	return b;
}

/* Each option: the command, and the -S line it must give. */
static const struct {
	const char *cmd, *spec;
} options[] = {
	{"-A INPUT -s 10.1.2.3", "-A INPUT -s 10.1.2.3/32"},
	{"-A INPUT -s 10.1.2.3/8", "-A INPUT -s 10.0.0.0/8"},
	{"-A INPUT ! -s 10.0.0.0/255.255.0.0", "-A INPUT ! -s 10.0.0.0/16"},
	{"-A INPUT -s 10.0.0.0/255.0.255.0", "-A INPUT -s 10.0.0.0/255.0.255.0"},
	{"-A INPUT ! -d 192.168.1.0/24 -j DROP", "-A INPUT ! -d 192.168.1.0/24 -j DROP"},
	{"-A INPUT -i eth0", "-A INPUT -i eth0"},
	{"-A INPUT ! -i eth+ -j ACCEPT", "-A INPUT ! -i eth+ -j ACCEPT"},
	{"-A OUTPUT -o veth1", "-A OUTPUT -o veth1"},
	{"-A INPUT -p udp", "-A INPUT -p udp"},
	{"-A INPUT ! -p tcp", "-A INPUT ! -p tcp"},
	{"-A INPUT -p 47", "-A INPUT -p gre"},
	{"-A INPUT -p 99", "-A INPUT -p 99"},
	{"-A INPUT -p all", "-A INPUT"},
	{"-A INPUT -p tcp --dport 22", "-A INPUT -p tcp -m tcp --dport 22"},
	{"-A INPUT -p tcp -m tcp ! --sport 1024:65535", "-A INPUT -p tcp -m tcp ! --sport 1024:65535"},
	{"-A INPUT -p tcp --dport 2000:1000", "-A INPUT -p tcp -m tcp --dport 1000:2000"},
	{"-A INPUT -p tcp --dport :1023", "-A INPUT -p tcp -m tcp --dport 0:1023"},
	{"-A INPUT -p udp --sport ssh --destination-port 53", "-A INPUT -p udp -m udp --sport 22 --dport 53"},
	{"-A INPUT -p tcp --syn", "-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"},
	{"-A INPUT -p tcp ! --syn", "-A INPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN"},
	{"-A INPUT -p tcp --tcp-flags ALL NONE", "-A INPUT -p tcp -m tcp --tcp-flags ALL NONE"},
	{"-A INPUT -p tcp --tcp-flags SYN,ACK ACK", "-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK ACK"},
	{"-A INPUT -p icmp --icmp-type echo-request", "-A INPUT -p icmp -m icmp --icmp-type 8"},
	{"-A INPUT -p icmp --icmp-type port-unreachable", "-A INPUT -p icmp -m icmp --icmp-type 3/3"},
	{"-A INPUT -p icmp ! --icmp-type 11", "-A INPUT -p icmp -m icmp ! --icmp-type 11"},
	{"-A INPUT -p icmp --icmp-type any", "-A INPUT -p icmp -m icmp --icmp-type any"},
	{"-A INPUT -p tcp -m multiport --dports 80,443,8000:8080", "-A INPUT -p tcp -m multiport --dports 80,443,8000:8080"},
	{"-A INPUT -p udp -m multiport ! --sports 53", "-A INPUT -p udp -m multiport ! --sports 53"},
	{"-A INPUT -p tcp -m multiport --ports 1,2", "-A INPUT -p tcp -m multiport --ports 1,2"},
	{"-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
	 "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"},
	{"-A INPUT -m conntrack ! --ctstate INVALID,NEW,UNTRACKED", "-A INPUT -m conntrack ! --ctstate INVALID,NEW,UNTRACKED"},
	{"-A INPUT -m state --state new", "-A INPUT -m state --state NEW"},
	{"-A INPUT -m mark --mark 5", "-A INPUT -m mark --mark 0x5"},
	{"-A INPUT -m mark ! --mark 0x10/0xf0", "-A INPUT -m mark ! --mark 0x10/0xf0"},
	{"-A INPUT -m length --length 100:1500", "-A INPUT -m length --length 100:1500"},
	{"-A INPUT -m length ! --length 64", "-A INPUT -m length ! --length 64"},
	{"-A INPUT -m limit --limit 10/second", "-A INPUT -m limit --limit 10/sec"},
	{"-A INPUT -m limit --limit 3/m --limit-burst 7", "-A INPUT -m limit --limit 3/min --limit-burst 7"},
	{"-A INPUT -m limit", "-A INPUT -m limit --limit 3/hour"},
	{"-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-mode srcip --hashlimit-name x",
	 "-A INPUT -m hashlimit --hashlimit-upto 5/sec --hashlimit-mode srcip --hashlimit-name x"},
	{"-A INPUT -m hashlimit --hashlimit-above 1/day --hashlimit-burst 2 --hashlimit-mode srcip,dstip --hashlimit-name y "
	 "--hashlimit-htable-expire 500",
	 "-A INPUT -m hashlimit --hashlimit-above 1/day --hashlimit-burst 2 --hashlimit-mode srcip,dstip --hashlimit-name y "
	 "--hashlimit-htable-expire 500"},
	{"-A INPUT -m set --match-set bad src -j DROP", "-A INPUT -m set --match-set bad src -j DROP"},
	{"-A INPUT -m set ! --match-set good dst,src", "-A INPUT -m set ! --match-set good dst,src"},
	{"-A INPUT -m comment --comment \"two words\"", "-A INPUT -m comment --comment \"two words\""},
	{"-A INPUT -m comment --comment plain", "-A INPUT -m comment --comment plain"},
	{"-A INPUT -j REJECT", "-A INPUT -j REJECT --reject-with icmp-port-unreachable"},
	{"-A INPUT -j REJECT --reject-with icmp-host-unreachable", "-A INPUT -j REJECT --reject-with icmp-host-unreachable"},
	{"-A INPUT -j REJECT --reject-with icmp-net-unreachable", "-A INPUT -j REJECT --reject-with icmp-net-unreachable"},
	{"-A INPUT -j REJECT --reject-with icmp-admin-prohibited", "-A INPUT -j REJECT --reject-with icmp-admin-prohibited"},
	{"-A INPUT -p tcp -j REJECT --reject-with tcp-reset", "-A INPUT -p tcp -j REJECT --reject-with tcp-reset"},
	{"-A INPUT -j LOG", "-A INPUT -j LOG"},
	{"-A INPUT -j LOG --log-prefix \"in: \" --log-level info", "-A INPUT -j LOG --log-prefix \"in: \" --log-level 6"},
	{"-A INPUT -j MARK --set-mark 7", "-A INPUT -j MARK --set-xmark 0x7/0xffffffff"},
	{"-A INPUT -j MARK --set-mark 0x1/0x3", "-A INPUT -j MARK --set-xmark 0x1/0x3"},
	{"-A INPUT -j MARK --set-xmark 0x4/0x6", "-A INPUT -j MARK --set-xmark 0x4/0x6"},
	{"-A INPUT -j MARK --or-mark 0x8", "-A INPUT -j MARK --set-xmark 0x8/0x8"},
	{"-A INPUT -j MARK --and-mark 0xf", "-A INPUT -j MARK --set-xmark 0x0/0xfffffff0"},
	{"-A INPUT -j RETURN", "-A INPUT -j RETURN"},
	{"-A INPUT -j ACCEPT", "-A INPUT -j ACCEPT"},
	{"-t nat -A POSTROUTING -o eth0 -j MASQUERADE", "-A POSTROUTING -o eth0 -j MASQUERADE"},
	{"-t nat -A POSTROUTING -p udp -j SNAT --to-source 198.18.0.1:1024-2000", "-A POSTROUTING -p udp -j SNAT --to-source 198.18.0.1:1024-2000"},
	{"-t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 198.18.1.2:8080",
	 "-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 198.18.1.2:8080"},
	{"-t nat -A PREROUTING -p tcp -j REDIRECT --to-ports 3128 --random",
	 "-A PREROUTING -p tcp -j REDIRECT --to-ports 3128 --random"},
	{"-t nat -A POSTROUTING -o eth0 -j MASQUERADE --random-fully", "-A POSTROUTING -o eth0 -j MASQUERADE --random-fully"},
	{"-t nat -A POSTROUTING -j SNAT --persistent --to-source 198.18.0.1-198.18.0.9 --random-fully",
	 "-A POSTROUTING -j SNAT --to-source 198.18.0.1-198.18.0.9 --random-fully --persistent"},
	{"-t raw -A PREROUTING -j DROP", "-A PREROUTING -j DROP"},
	{"-t mangle -A FORWARD -j MARK --set-mark 1", "-A FORWARD -j MARK --set-xmark 0x1/0xffffffff"},
};

static void test_each_option(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
		struct tn_ipt_model m;
		tn_ipt_model_init(&m);
		int rc = ipt(&m, options[k].cmd);
		if (rc != 0)
			fail_msg("%s: rc %d: %s", options[k].cmd, rc, errbuf);
		const char *tbl = strstr(options[k].cmd, "-t ") ? options[k].cmd + 3 : "filter";
		char tname[16];
		sscanf(tbl, "%15s", tname);
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "-t %s -S", tname);
		assert_int_equal(ipt(&m, cmd), 0);
		char want[600];
		snprintf(want, sizeof(want), "\n%s\n", options[k].spec);
		if (!strstr(outbuf, want))
			fail_msg("%s: -S gave\n%s\nwanted %s", options[k].cmd, outbuf, options[k].spec);
		/* -S output fed back gives the same rule */
		struct tn_ipt_model m2;
		tn_ipt_model_init(&m2);
		char again[700];
		snprintf(again, sizeof(again), "-t %s %s", tname, options[k].spec);
		assert_int_equal(ipt(&m2, again), 0);
		assert_int_equal(ipt(&m2, cmd), 0);
		if (!strstr(outbuf, want))
			fail_msg("%s: not stable: %s", options[k].spec, outbuf);
		tn_ipt_model_free(&m);
		tn_ipt_model_free(&m2);
	}
}

static const struct {
	const char *cmd, *err;
	int rc;
} errors[] = {
	{"-A INPUT -p tcp --dprot 22", "unknown option \"--dprot\"", 2},
	{"-A INPUT --dport 22", "unknown option \"--dport\"", 2},
	{"-t nat -A PREROUTING -p tcp -j REDIRECT --to-ports 80 --random-fully", "unknown option \"--random-fully\"", 2},
	{"-t nat -A POSTROUTING -j MASQUERADE --persistent", "unknown option \"--persistent\"", 2},
	{"-A INPUT foo", "Bad argument `foo'", 2},
	{"-A INPUT -j FOO", "Couldn't load target `FOO'", 2},
	{"-A INPUT -m foo", "Couldn't load match `foo'", 2},
	{"-A NOPE -j ACCEPT", "No chain/target/match by that name", 1},
	{"-A INPUT -s 300.1.1.1", "host/network `300.1.1.1' not found", 2},
	{"-A INPUT -s", "option \"-s\" requires an argument", 2},
	{"-A INPUT -p foo", "unknown protocol \"foo\" specified", 2},
	{"-A INPUT -p tcp --dport 70000", "invalid port/service `70000' specified", 2},
	{"-A INPUT -p tcp --dport x", "invalid port/service `x' specified", 2},
	{"-A INPUT -p tcp --tcp-flags SYN,FOO SYN", "Unknown TCP flag `SYN,FOO'", 2},
	{"-A INPUT -p icmp --icmp-type bogus", "Invalid ICMP type `bogus'", 2},
	{"-A INPUT -m conntrack --ctstate FOO", "Bad ctstate \"FOO\"", 2},
	{"-A INPUT -m state --state NEW,BAR", "Bad state \"NEW,BAR\"", 2},
	{"-A INPUT -m mark --mark z", "Bad mark value \"z\"", 2},
	{"-A INPUT -m limit --limit 5/fortnight", "bad rate \"5/fortnight\"", 2},
	{"-A INPUT -m hashlimit --hashlimit-upto 5/sec", "--hashlimit-name\" must be specified", 2},
	{"-A INPUT -m multiport --dports 1", "multiport needs `-p tcp'", 2},
	{"-A INPUT -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "too many ports specified", 2},
	{"-A INPUT -m tcp --dport 1", "tcp match needs `-p tcp'", 2},
	{"-A INPUT -i averyveryverylongname", "must be shorter than IFNAMSIZ", 2},
	{"-A OUTPUT -i eth0", "Can't use -i with OUTPUT", 2},
	{"-A INPUT -o eth0", "Can't use -o with INPUT", 2},
	{"-A INPUT -j REJECT --reject-with tcp-reset", "tcp-reset only valid with -p tcp", 2},
	{"-A INPUT -j REJECT --reject-with bogus", "unknown reject type \"bogus\"", 2},
	{"-A INPUT -j LOG --log-level 9", "log-level `9' unknown", 2},
	{"-A INPUT -j MARK", "Parameter --set/and/or/xor-mark is required", 2},
	{"-A INPUT -j ACCEPT -j DROP", "multiple -j flags not allowed", 2},
	{"-A INPUT -s 1.2.3.4 -s 1.2.3.5", "multiple -s flags not allowed", 2},
	{"-A INPUT -j SNAT --to-source 1.2.3.4", "SNAT target: only valid in nat table", 1},
	{"-t nat -A PREROUTING -j SNAT --to-source 1.2.3.4", "SNAT target: used from hook PREROUTING", 1},
	{"-t nat -A POSTROUTING -j SNAT", "You must specify --to-source", 2},
	{"-t nat -A POSTROUTING -j SNAT --to-source 198.18.0.1:1000", "Need TCP, UDP, SCTP or DCCP with port specification", 2},
	{"-t nat -A POSTROUTING -p tcp -j SNAT --to-source 198.18.0.1:2000-1000", "Port range `2000-1000' invalid", 2},
	{"-t nat -A POSTROUTING -j SNAT --to-source 198.18.0.9-198.18.0.1", "Bad IP address \"198.18.0.9-198.18.0.1\"", 2},
	{"-t nat -A POSTROUTING -j SNAT --to-source 198.18.0.256", "Bad IP address", 2},
	{"-t nat -A POSTROUTING -p udp -j MASQUERADE --to-ports 0", "Invalid port range \"0\"", 2},
	{"-t nat -A PREROUTING -j REDIRECT --to-ports 8080", "Need TCP, UDP, SCTP or DCCP with port specification", 2},
	{"-t nat -A PREROUTING -j REJECT", "REJECT target: used from hook PREROUTING", 1},
	{"-t bogus -L", "can't initialize iptables table `bogus'", 1},
	{"-L -A INPUT", "Cannot use -A with -L", 2},
	{"-P INPUT REJECT", "Bad policy name", 1},
	{"-N ACCEPT", "chain name may not clash with target name", 2},
	{"-N -foo", "chain name not allowed to start with `-'", 2},
	{"-N INPUT", "Chain already exists", 1},
	{"-X INPUT", "Invalid argument", 1},
	{"-D INPUT 5", "Index of deletion too big", 1},
	{"-D INPUT -s 9.9.9.9", "Bad rule (does a matching rule exist in that chain?)", 1},
	{"-I INPUT 9 -j ACCEPT", "Index of insertion too big", 1},
	{"-R INPUT 3 -j ACCEPT", "Index of replacement too big", 1},
	{"-A INPUT ! -j ACCEPT", "cannot have ! before -j", 2},
	{"-F -s 1.2.3.4", "Illegal option with this command", 2},
	{"", "no command specified", 2},
};

static void test_each_error(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(errors) / sizeof(errors[0]); k++) {
		struct tn_ipt_model m;
		tn_ipt_model_init(&m);
		assert_int_equal(ipt(&m, "-A INPUT -j ACCEPT"), 0);
		char *before = save(&m, true);
		int rc = ipt(&m, errors[k].cmd);
		if (rc != errors[k].rc || !strstr(errbuf, errors[k].err))
			fail_msg("%s: rc %d, \"%s\"; wanted %d \"%s\"", errors[k].cmd, rc, errbuf, errors[k].rc, errors[k].err);
		char *after = save(&m, true);
		assert_string_equal(before, after); /* nothing half-applied */
		free(before);
		free(after);
		tn_ipt_model_free(&m);
	}
}

static void test_commands(void **state)
{
	(void)state;
	struct tn_ipt_model m;
	tn_ipt_model_init(&m);
	assert_int_equal(ipt(&m, "-A INPUT -s 1.1.1.1 -j ACCEPT"), 0);
	assert_int_equal(ipt(&m, "-A INPUT -s 2.2.2.2 -j ACCEPT"), 0);
	assert_int_equal(ipt(&m, "-I INPUT -s 3.3.3.3 -j DROP"), 0);      /* at 1 */
	assert_int_equal(ipt(&m, "-I INPUT 3 -s 4.4.4.4 -j DROP"), 0);    /* at 3 */
	assert_int_equal(ipt(&m, "-I INPUT 5 -s 5.5.5.5 -j DROP"), 0);    /* at the end */
	assert_int_equal(ipt(&m, "-S INPUT"), 0);
	assert_string_equal(outbuf, "-P INPUT ACCEPT\n-A INPUT -s 3.3.3.3/32 -j DROP\n-A INPUT -s 1.1.1.1/32 -j ACCEPT\n"
				    "-A INPUT -s 4.4.4.4/32 -j DROP\n-A INPUT -s 2.2.2.2/32 -j ACCEPT\n"
				    "-A INPUT -s 5.5.5.5/32 -j DROP\n");
	assert_int_equal(ipt(&m, "-D INPUT -s 4.4.4.4/32 -j ACCEPT"), 1); /* same address, other target */
	assert_int_equal(ipt(&m, "-D INPUT -s 4.4.4.4/32 -j DROP"), 0); /* by spec */
	assert_int_equal(ipt(&m, "-D INPUT 1"), 0);                     /* by number */
	/* by spec, as the rule prints: the address under the mask, the port too */
	assert_int_equal(ipt(&m, "-A INPUT -s 7.7.7.7/24 -p tcp --dport 80 -j DROP"), 0);
	assert_int_equal(ipt(&m, "-D INPUT -s 7.7.7.0/24 -p tcp --dport 81 -j DROP"), 1);
	assert_int_equal(ipt(&m, "-D INPUT -s 7.7.7.0/24 -p tcp -m tcp --dport 80 -j DROP"), 0);
	assert_int_equal(ipt(&m, "-R INPUT 2 -s 6.6.6.6 -j ACCEPT"), 0);
	assert_int_equal(ipt(&m, "-C INPUT -s 6.6.6.6 -j ACCEPT"), 0);
	assert_int_equal(ipt(&m, "-C INPUT -s 2.2.2.2 -j ACCEPT"), 1);
	assert_int_equal(ipt(&m, "-S INPUT 2"), 0);
	assert_string_equal(outbuf, "-A INPUT -s 6.6.6.6/32 -j ACCEPT\n");
	/* user chains: -N, -E, -X refused while referenced or not empty */
	assert_int_equal(ipt(&m, "-N web"), 0);
	assert_int_equal(ipt(&m, "-A web -j RETURN"), 0);
	assert_int_equal(ipt(&m, "-A INPUT -j web"), 0);
	assert_int_equal(ipt(&m, "-X web"), 1);
	assert_non_null(strstr(errbuf, "Too many links"));
	assert_int_equal(ipt(&m, "-E web www"), 0);
	assert_int_equal(ipt(&m, "-S INPUT 4"), 0);
	assert_string_equal(outbuf, "-A INPUT -j www\n");
	assert_int_equal(ipt(&m, "-D INPUT 4"), 0);
	assert_int_equal(ipt(&m, "-X www"), 1);
	assert_non_null(strstr(errbuf, "Directory not empty"));
	assert_int_equal(ipt(&m, "-F www"), 0);
	assert_int_equal(ipt(&m, "-X www"), 0);
	/* loops: direct, indirect, through goto */
	assert_int_equal(ipt(&m, "-N a"), 0);
	assert_int_equal(ipt(&m, "-N b"), 0);
	assert_int_equal(ipt(&m, "-A a -j b"), 0);
	assert_int_equal(ipt(&m, "-A b -g a"), 1);
	assert_non_null(strstr(errbuf, "Too many levels of symbolic links"));
	assert_int_equal(ipt(&m, "-A a -j a"), 1);
	/* policy, flush, zero */
	assert_int_equal(ipt(&m, "-P FORWARD DROP"), 0);
	assert_int_equal(ipt(&m, "-P a DROP"), 1);
	assert_non_null(strstr(errbuf, "Bad built-in chain name"));
	assert_int_equal(ipt(&m, "-F"), 0);
	assert_int_equal(ipt(&m, "-S"), 0);
	assert_string_equal(outbuf, "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N a\n-N b\n");
	assert_int_equal(ipt(&m, "-X"), 0);
	assert_int_equal(ipt(&m, "-S"), 0);
	assert_string_equal(outbuf, "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n");
	tn_ipt_model_free(&m);
}

static void test_list(void **state)
{
	(void)state;
	struct tn_ipt_model m;
	tn_ipt_model_init(&m);
	assert_int_equal(ipt(&m, "-N web"), 0);
	assert_int_equal(ipt(&m, "-A INPUT -p tcp --dport 22 -j ACCEPT"), 0);
	assert_int_equal(ipt(&m, "-A INPUT -i eth0 -s 10.0.0.0/8 -j web"), 0);
	m.t[TN_IPT_FILTER].chains[0].rules[0].pkts = 1234567;
	m.t[TN_IPT_FILTER].chains[0].rules[0].bytes = 99;
	assert_int_equal(ipt(&m, "-L -n"), 0);
	assert_non_null(strstr(outbuf, "Chain INPUT (policy ACCEPT)\n"
					"target     prot opt source               destination         \n"
					"ACCEPT     tcp  --  0.0.0.0/0            0.0.0.0/0            tcp dpt:22"));
	assert_non_null(strstr(outbuf, "Chain web (1 references)"));
	assert_int_equal(ipt(&m, "-L INPUT"), 0);
	assert_non_null(strstr(outbuf, "anywhere"));
	assert_int_equal(ipt(&m, "-L INPUT -v -n --line-numbers"), 0);
	assert_non_null(strstr(outbuf, "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)"));
	assert_non_null(strstr(outbuf, "num   pkts bytes target"));
	if (!strstr(outbuf, "1    1235K    99 ACCEPT"))
		fail_msg("%s", outbuf);
	assert_non_null(strstr(outbuf, "web        all  --  eth0   *      10.0.0.0/8"));
	assert_int_equal(ipt(&m, "-nvxL INPUT"), 0);
	assert_non_null(strstr(outbuf, " 1234567         99 ACCEPT"));
	assert_int_equal(ipt(&m, "-Z INPUT"), 0);
	assert_int_equal(ipt(&m, "-L INPUT -v -x -n"), 0);
	assert_non_null(strstr(outbuf, "       0          0 ACCEPT"));
	tn_ipt_model_free(&m);
}

static const char *varied =
	"*raw\n"
	":PREROUTING ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	"-A PREROUTING -s 198.18.9.0/24 -j DROP\n"
	"COMMIT\n"
	"*mangle\n"
	":PREROUTING ACCEPT [1:2]\n"
	":INPUT ACCEPT [0:0]\n"
	":FORWARD ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":POSTROUTING ACCEPT [0:0]\n"
	"-A PREROUTING -i eth1 -p tcp -m tcp --dport 443 -j MARK --set-xmark 0x2/0xffffffff\n"
	"COMMIT\n"
	"*nat\n"
	":PREROUTING ACCEPT [0:0]\n"
	":INPUT ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":POSTROUTING ACCEPT [0:0]\n"
	"-A PREROUTING -d 198.18.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 198.18.1.2:8080\n"
	"-A POSTROUTING -o eth0 -j MASQUERADE\n"
	"COMMIT\n"
	"*filter\n"
	":INPUT DROP [10:600]\n"
	":FORWARD DROP [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":LOGDROP - [0:0]\n"
	":web - [0:0]\n"
	"[5:300] -A INPUT -i lo -j ACCEPT\n"
	"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
	"-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 10/sec --limit-burst 20 -j ACCEPT\n"
	"-A INPUT -p tcp -m multiport --dports 80,443 -m conntrack --ctstate NEW -j web\n"
	"-A INPUT ! -s 198.18.0.0/15 -p udp -m udp --sport 53 -m length --length 0:512 -j ACCEPT\n"
	"-A INPUT -m set --match-set blocked src -j LOGDROP\n"
	"-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m hashlimit --hashlimit-upto 50/sec --hashlimit-burst 100 "
	"--hashlimit-mode srcip --hashlimit-name syn -j ACCEPT\n"
	"-A INPUT -p tcp -j REJECT --reject-with tcp-reset\n"
	"-A INPUT -j REJECT --reject-with icmp-admin-prohibited\n"
	"-A FORWARD -i eth1 -o eth0 -m mark ! --mark 0x2/0x3 -g web\n"
	"-A LOGDROP -m comment --comment \"dropped \\\"bad\\\" hosts\" -j LOG --log-prefix \"drop: \" --log-level 7\n"
	"-A LOGDROP -j DROP\n"
	"-A web -s 198.18.5.0/24 -j RETURN\n"
	"-A web -p tcp -m tcp ! --sport 1024:65535 -j DROP\n"
	"-A web -j ACCEPT\n"
	"COMMIT\n";

static void test_save_restore_round_trip(void **state)
{
	(void)state;
	struct tn_ipt_model m;
	tn_ipt_model_init(&m);
	FILE *e = fmemopen(errbuf, sizeof(errbuf), "w");
	assert_int_equal(tn_ipt_restore(&m, varied, strlen(varied), false, true, e, NULL), 0);
	fclose(e);
	char *s1 = save(&m, true);
	/* the saved text is the input, plus the comment lines and zero counters */
	struct tn_ipt_model m2;
	tn_ipt_model_init(&m2);
	e = fmemopen(errbuf, sizeof(errbuf), "w");
	assert_int_equal(tn_ipt_restore(&m2, s1, strlen(s1), false, true, e, NULL), 0);
	fclose(e);
	char *s2 = save(&m2, true);
	assert_string_equal(s1, s2);
	/* without counters, the input's rule lines come back byte for byte */
	char *s3 = save(&m, false);
	static const char logdrop[] =
		"-A LOGDROP -m comment --comment \"dropped \\\"bad\\\" hosts\" -j LOG --log-prefix \"drop: \" --log-level 7\n";
	const char *lines[] = {"-A INPUT -i lo -j ACCEPT\n", logdrop,
			       ":INPUT DROP [0:0]\n", "-A POSTROUTING -o eth0 -j MASQUERADE\n"};
	for (size_t k = 0; k < 4; k++)
		assert_non_null(strstr(s3, lines[k]));
	assert_non_null(strstr(s1, "[5:300] -A INPUT -i lo -j ACCEPT\n"));
	assert_non_null(strstr(s1, ":INPUT DROP [10:600]\n"));
	/* the input text with the save's comments taken out equals the save */
	char *strip = malloc(strlen(s3) + 1);
	size_t w = 0;
	for (const char *p = s3; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = (size_t)(nl - p) + 1;
		if (*p != '#') {
			memcpy(strip + w, p, l);
			w += l;
		}
		p += l;
	}
	strip[w] = 0;
	/* varied without [5:300] and with zero policy counters */
	char *want = strdup(varied);
	char *c = strstr(want, "[5:300] ");
	memmove(c, c + 8, strlen(c + 8) + 1);
	c = strstr(want, "[10:600]");
	memcpy(c, "[0:0]", 5);
	memmove(c + 5, c + 8, strlen(c + 8) + 1);
	c = strstr(want, "[1:2]");
	memcpy(c, "[0:0]", 5);
	assert_string_equal(strip, want);
	free(want);
	free(strip);
	free(s1);
	free(s2);
	free(s3);
	tn_ipt_model_free(&m);
	tn_ipt_model_free(&m2);
}

static void test_restore_errors_and_noflush(void **state)
{
	(void)state;
	struct tn_ipt_model m;
	tn_ipt_model_init(&m);
	assert_int_equal(ipt(&m, "-A INPUT -s 1.1.1.1 -j DROP"), 0);
	char *before = save(&m, true);
	static const struct {
		const char *text, *err;
	} bad[] = {
		{"*filter\n-A INPUT -j ACCEPT\n-A INPUT -p tcp --dprot 1\nCOMMIT\n", "line 3 failed: unknown option \"--dprot\""},
		{"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n", "COMMIT expected"},
		{"*bogus\nCOMMIT\n", "line 1 failed: can't initialize iptables table `bogus'"},
		{"-A INPUT -j ACCEPT\n", "line 1 failed: no table specified"},
		{"*filter\n-t nat -A INPUT -j ACCEPT\nCOMMIT\n", "The -t option cannot be used"},
		{"*filter\n:foo - [0:0]\n-A foo -j foo\nCOMMIT\n", "Too many levels of symbolic links"},
		{"*filter\n:INPUT BOGUS [0:0]\nCOMMIT\n", "Bad policy name"},
		{"*filter\n-A INPUT -m comment --comment \"open\nCOMMIT\n", "unterminated quote"},
		{"*filter\nCOMMIT\n*nat\n-A POSTROUTING -j SNAT\nCOMMIT\n", "line 4 failed: You must specify --to-source"},
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		FILE *e = fmemopen(errbuf, sizeof(errbuf), "w");
		assert_int_equal(tn_ipt_restore(&m, bad[k].text, strlen(bad[k].text), false, false, e, NULL), 1);
		fclose(e);
		if (!strstr(errbuf, bad[k].err))
			fail_msg("restore %zu: \"%s\", wanted \"%s\"", k, errbuf, bad[k].err);
		char *after = save(&m, true);
		assert_string_equal(before, after); /* an error in any table changes none */
		free(after);
	}
	/* --noflush adds; without it the table is replaced */
	const char *add = "*filter\n-A INPUT -s 2.2.2.2 -j DROP\nCOMMIT\n";
	FILE *e = fmemopen(errbuf, sizeof(errbuf), "w");
	unsigned changed = 0;
	assert_int_equal(tn_ipt_restore(&m, add, strlen(add), true, false, e, &changed), 0);
	assert_int_equal(changed, 1u << TN_IPT_FILTER);
	assert_int_equal(m.t[TN_IPT_FILTER].chains[0].nrules, 2);
	assert_int_equal(tn_ipt_restore(&m, add, strlen(add), false, false, e, NULL), 0);
	assert_int_equal(m.t[TN_IPT_FILTER].chains[0].nrules, 1);
	fclose(e);
	free(before);
	tn_ipt_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_option),
		cmocka_unit_test(test_each_error),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_save_restore_round_trip),
		cmocka_unit_test(test_restore_errors_and_noflush),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
