/* ping over a tern ICMP socket, printing what iputils ping prints. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"
#include "wire/wire.h"

#define NS_PER_MS 1000000.0

int ping_start(struct ping_session *p, struct tn_stack *s, uint32_t dst, int count,
	       uint64_t interval_ns, int size, FILE *out, uint64_t now)
{
	memset(p, 0, sizeof(*p));
	p->stack = s;
	p->dst = dst;
	p->count = count;
	p->interval_ns = interval_ns;
	p->timeout_ns = 10ull * 1000000000ull;
	p->size = size;
	p->out = out;
	p->tmin = 1e18;
	p->fd = tern_socket(s, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	p->sent_at = calloc(65536, sizeof(uint64_t));
	if (p->fd < 0 || !p->sent_at)
		return -1;
	int on = 1;
	tern_setsockopt(s, p->fd, IPPROTO_IP, IP_RECVTTL, &on, sizeof(on));
	if (p->ttl)
		tern_setsockopt(s, p->fd, IPPROTO_IP, IP_TTL, &p->ttl, sizeof(p->ttl));
	p->start = p->next_send = now;
	char a[INET_ADDRSTRLEN];
	fprintf(out, "PING %s (%s) %d(%d) bytes of data.\n", ip_str(dst, a), a, size, size + 28);
	fflush(out);
	return 0;
}

static void send_echo(struct ping_session *p, uint64_t now)
{
	uint8_t buf[65536];
	uint16_t seq = (uint16_t)(p->ntransmitted + 1);
	struct tn_icmp_hdr ih = {.type = TN_ICMP_ECHO, .rest = seq};
	tn_icmp_emit(&ih, buf, sizeof(buf));
	for (int i = 0; i < p->size; i++)
		buf[TN_ICMP_HLEN + i] = (uint8_t)(i + 8); /* iputils' fill pattern */
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(p->dst)};
	p->sent_at[seq] = now;
	p->ntransmitted++;
	if (tern_sendto(p->stack, p->fd, buf, (size_t)(TN_ICMP_HLEN + p->size), 0,
			(struct sockaddr *)&to, sizeof(to)) < 0) {
		fprintf(p->out, "ping: sendmsg: %s\n", strerror(errno));
		p->nerrors++;
	}
}

static void report_error(struct ping_session *p)
{
	/* The socket recorded the ICMP error; show it as iputils does. */
	int err = 0;
	socklen_t len = sizeof(err);
	tern_getsockopt(p->stack, p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	uint32_t from;
	uint8_t type, code;
	uint16_t seq;
	if (tern_sock_icmp_error(p->stack, p->fd, &from, &type, &code, &seq) < 0)
		return;
	p->nerrors++;
	const char *what = "Destination Unreachable";
	if (type == TN_ICMP_TIME_EXCEEDED)
		what = "Time to live exceeded";
	else if (code == TN_ICMP_NET_UNREACH)
		what = "Destination Net Unreachable";
	else if (code == TN_ICMP_HOST_UNREACH)
		what = "Destination Host Unreachable";
	else if (code == TN_ICMP_PORT_UNREACH)
		what = "Destination Port Unreachable";
	else if (code == TN_ICMP_FRAG_NEEDED)
		what = "Frag needed";
	char a[INET_ADDRSTRLEN];
	if (!p->quiet)
		fprintf(p->out, "From %s icmp_seq=%u %s\n", ip_str(from, a), seq, what);
}

static void read_replies(struct ping_session *p, uint64_t now)
{
	for (;;) {
		uint8_t buf[65536];
		struct sockaddr_in from;
		char cbuf[64];
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
		ssize_t n = tern_recvmsg(p->stack, p->fd, &msg, 0);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			report_error(p);
			continue;
		}
		struct tn_icmp_hdr ih;
		if (tn_icmp_parse(buf, (size_t)n, &ih) < 0 || ih.type != TN_ICMP_ECHOREPLY)
			continue;
		uint16_t seq = (uint16_t)ih.rest;
		int ttl = -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL)
				memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
		double rtt = (double)(now - p->sent_at[seq]) / NS_PER_MS;
		p->nreceived++;
		p->tsum += rtt;
		p->tsum2 += rtt * rtt;
		if (rtt < p->tmin)
			p->tmin = rtt;
		if (rtt > p->tmax)
			p->tmax = rtt;
		if (!p->quiet) {
			char a[INET_ADDRSTRLEN];
			fprintf(p->out, "%zd bytes from %s: icmp_seq=%u ttl=%d time=%.3f ms\n", n,
				ip_str(ntohl(from.sin_addr.s_addr), a), seq, ttl, rtt);
		}
	}
}

uint64_t ping_step(struct ping_session *p, uint64_t now)
{
	read_replies(p, now);
	bool all_sent = p->count && p->ntransmitted >= p->count;
	if (!all_sent && now >= p->next_send) {
		send_echo(p, now);
		p->next_send += p->interval_ns;
		if (p->next_send < now)
			p->next_send = now;
		all_sent = p->count && p->ntransmitted >= p->count;
		if (all_sent)
			p->finish_at = now + p->timeout_ns;
	}
	fflush(p->out);
	if (all_sent && (p->nreceived + p->nerrors >= p->count || now >= p->finish_at)) {
		p->done = true;
		return UINT64_MAX;
	}
	return all_sent ? p->finish_at : p->next_send;
}

void ping_finish(struct ping_session *p, uint64_t now)
{
	char a[INET_ADDRSTRLEN];
	fprintf(p->out, "\n--- %s ping statistics ---\n", ip_str(p->dst, a));
	int loss = p->ntransmitted ? (int)(100.0 * (p->ntransmitted - p->nreceived) / p->ntransmitted) : 0;
	fprintf(p->out, "%d packets transmitted, %d received, ", p->ntransmitted, p->nreceived);
	if (p->nerrors)
		fprintf(p->out, "+%d errors, ", p->nerrors);
	fprintf(p->out, "%d%% packet loss, time %llums\n", loss,
		(unsigned long long)((now - p->start) / 1000000ull));
	if (p->nreceived) {
		double avg = p->tsum / p->nreceived;
		double var = p->tsum2 / p->nreceived - avg * avg;
		fprintf(p->out, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", p->tmin, avg, p->tmax,
			var > 0 ? sqrt(var) : 0.0);
	}
	fflush(p->out);
}

void ping_free(struct ping_session *p)
{
	if (p->fd >= 0)
		tern_close(p->stack, p->fd);
	free(p->sent_at);
	p->sent_at = NULL;
	p->fd = -1;
}

int ping_parse_args(int argc, char **argv, int *count, double *interval, int *size, double *wait,
		    int *ttl, bool *quiet, uint32_t *dst)
{
	optind = 1;
	int c;
	while ((c = getopt(argc, argv, "c:i:s:W:t:q")) != -1) {
		switch (c) {
		case 'c': *count = atoi(optarg); break;
		case 'i': *interval = atof(optarg); break;
		case 's': *size = atoi(optarg); break;
		case 'W': *wait = atof(optarg); break;
		case 't': *ttl = atoi(optarg); break;
		case 'q': *quiet = true; break;
		default: return -1;
		}
	}
	if (optind != argc - 1 || parse_ip(argv[optind], dst) < 0)
		return -1;
	if (*size < 0 || *size > 65507 - 8 || *interval < 0 || *count < 0)
		return -1;
	return 0;
}
