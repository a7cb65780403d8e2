/* libFuzzer target: the IPv4 parser and emitter. */
#include "wire_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_ipv4(data, size);
	return 0;
}
