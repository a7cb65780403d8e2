/* libFuzzer target: fuzz_tcp_sock's program of segments, socket calls and
 * clock jumps with TCP Fast Open on both sides: the listener hands out
 * cookies (TCP_FASTOPEN), the active open goes by sendto(MSG_FASTOPEN),
 * and op bytes 240..255 make Fast Open SYNs (good, bad, requested or no
 * cookie, data, FIN) from new peer ports or new Fast Open client sockets. */
#define TN_FUZZ_TFO 1
#include "fuzz_tcp_sock.c"
