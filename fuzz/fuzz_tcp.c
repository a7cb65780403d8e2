/* libFuzzer target: the TCP header and options parser and emitter. */
#include "wire_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_tcp(data, size);
	return 0;
}
