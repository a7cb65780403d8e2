/* libFuzzer target: the ARP parser and emitter. */
#include "wire_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_arp(data, size);
	return 0;
}
