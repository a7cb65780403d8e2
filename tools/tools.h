/* Shared pieces of the `tern` command. */
#ifndef TERN_TOOLS_H
#define TERN_TOOLS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tern/tern.h"

/* ---- ping, driven by any clock (real in `tern host`, virtual in the demo) ---- */
struct ping_session {
	struct tn_stack *stack;
	int fd;                 /* tern ping socket */
	uint32_t dst;
	int count;              /* 0: until stopped */
	uint64_t interval_ns;
	uint64_t timeout_ns;    /* -W: wait for the last reply */
	int size;               /* ICMP data bytes (56 default) */
	int ttl;
	int ntransmitted, nreceived, nerrors;
	uint64_t start, next_send, finish_at;
	double tmin, tmax, tsum, tsum2;
	uint64_t *sent_at;      /* by seq (65536 entries) */
	bool done;
	bool quiet;
	FILE *out;
};
int ping_start(struct ping_session *p, struct tn_stack *s, uint32_t dst, int count,
	       uint64_t interval_ns, int size, FILE *out, uint64_t now);
/* Send what is due and read replies; returns when it next needs to run. */
uint64_t ping_step(struct ping_session *p, uint64_t now);
void ping_finish(struct ping_session *p, uint64_t now); /* prints the summary */
void ping_free(struct ping_session *p);
/* Parse ping options (-c N -i SEC -s N -W SEC -t TTL -q ADDR) into the session fields. */
int ping_parse_args(int argc, char **argv, int *count, double *interval, int *size, double *wait,
		    int *ttl, bool *quiet, uint32_t *dst);

struct progress {
	int last_pct;
};

/* ---- `get`: one HTTP request, the body written to out_fd ---- */
#include "app/httpc.h"
struct get_session {
	struct tn_httpc *c;
	int out_fd;
	FILE *msg;        /* errors and, with -i/-I, the response head */
	bool show_head, head_shown;
	bool progress;    /* --progress (tern get -o adds it): a bar on msg */
	struct progress pg;
	uint64_t started;
};
/* 0 when started; otherwise the exit status (usage: 2, no socket: 7). */
int get_start(struct get_session *g, struct tn_stack *s, int argc, char **argv, int out_fd, FILE *msg);
/* -1 while running; then the exit status (0, 22 for >= 400, 7 no connection). */
int get_step(struct get_session *g);
void get_free(struct get_session *g);

/* ---- views of a stack, in the forms of the Linux tools ---- */
void show_route(struct tn_stack *s, FILE *f);
void show_neigh(struct tn_stack *s, FILE *f);
void show_addr(struct tn_stack *s, FILE *f);
void show_ss(struct tn_stack *s, FILE *f, bool info); /* like ss -tan, with info ss -tani */
/* `ss [-i]`: returns the exit status. */
int run_ss(struct tn_stack *s, int argc, char **argv, FILE *f);
/* The tab-indented detail line ss -i prints under a TCP socket. */
struct tern_tcp_info;
void ss_info_line(FILE *f, const struct tern_tcp_info *ti, const char *cc, bool listener);
void show_stat(struct tn_stack *s, FILE *f, bool nstat);
/* `sysctl [-a] [-w k=v] [k]`: returns the exit status. */
int run_sysctl(struct tn_stack *s, int argc, char **argv, FILE *f);
/* `conntrack -L|-S|-C|-F|--enable|--disable` (tools/conntrack.c). */
int run_conntrack(struct tn_stack *s, int argc, char **argv, FILE *f);
/* `route add|del PREFIX [via GW] [dev IF] [metric N]`, or show. */
int run_route(struct tn_stack *s, int argc, char **argv, FILE *f);

int parse_prefix(const char *str, uint32_t *addr, int *plen);
int parse_ip(const char *str, uint32_t *addr);
const char *ip_str(uint32_t addr, char *buf);
uint64_t mono_ns(void);
void progress_bar(FILE *f, struct progress *pg, uint64_t done, uint64_t total, double secs, bool final);

int cmd_host(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_trace(int argc, char **argv);
/* `tern tc ...`: tc's words to the host NAME (tools/tc.c). */
int cmd_tc(const char *name, int argc, char **argv);
/* The host's side: argv is "tc" and tc's words; returns the exit status. */
int run_tc(struct tn_stack *s, int argc, char **argv, FILE *f);
/* `tern host --tc FILE`: apply a file of tc commands; -1 if a line failed. */
int tc_file_apply(struct tn_stack *s, const char *path);
/* Run a command on the host NAME through its control socket. */
int ctl_client(const char *name, int argc, char **argv);
/* The same, passing descriptor pass_fd (>= 0) with the request. */
int ctl_client_fd(const char *name, int argc, char **argv, int pass_fd);
/* iptables, iptables-save, iptables-restore, ipset, iptables-log (tools/iptables.c). */
int cmd_iptables(const char *name, int argc, char **argv);
struct tn_stack;
/* The whole of fd (malloc'd; NULL on error). */
char *ipt_read_all(int fd, size_t *len);
int host_run_iptables(struct tn_stack *s, int argc, char **argv, int passed_fd, FILE *out);
int host_iptables_file(struct tn_stack *s, const char *path);
const char *ctl_path(const char *name, char *buf, size_t cap);

#endif
