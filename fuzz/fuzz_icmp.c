/* libFuzzer target: the ICMP parser and emitter. */
#include "wire_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_icmp(data, size);
	return 0;
}
