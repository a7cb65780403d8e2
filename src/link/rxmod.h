/* Receive moderation for a driver whose owner sleeps on a file descriptor:
 * the software side of a NIC's interrupt coalescing (ethtool -C rx-usecs
 * with adaptive-rx).
 *
 * A NIC interrupts per frame under light load and every rx-usecs under a
 * stream.  A socket's wake-up costs the same as an interrupt, or more: an
 * AF_XDP socket woken per frame took a 64-byte flood 4.4 frames per wake-up
 * at 3.7 us of CPU per frame, most of it the context switch.  So frames are
 * counted per window of rx_ns; while the last window brought a stream
 * (TN_RXMOD_MIN frames or more), the driver leaves its descriptor out of
 * the owner's poll and the owner sleeps out the window on its timer, then
 * takes what accumulated in one pass.  A frame after a quiet window still
 * wakes the owner at once (ping, a lone request), and so does one after an
 * idle gap longer than a window. */
#ifndef TERN_LINK_RXMOD_H
#define TERN_LINK_RXMOD_H

#include <stdbool.h>
#include <stdint.h>

#define TN_RXMOD_MIN 4u /* frames in a window that make it a stream */

struct tn_rxmod {
	uint64_t rx_ns;    /* window; 0: moderation off */
	uint64_t win_end;  /* when the current window ends */
	uint32_t frames;   /* frames taken in the current window */
	bool on;           /* the last window was a stream: hold the descriptor */
	uint64_t moderated; /* frames taken while on */
};

/* Count `got` frames taken at `now` (calls with 0 frames count too: they
 * close a window on time). */
static inline void tn_rxmod_note(struct tn_rxmod *m, uint64_t now, uint32_t got)
{
	if (!m->rx_ns)
		return;
	if (now >= m->win_end) {
		/* a window judged long after its end was idle since */
		m->on = m->frames >= TN_RXMOD_MIN && now < m->win_end + m->rx_ns;
		m->win_end = now + m->rx_ns;
		m->frames = 0;
	}
	m->frames += got;
	if (m->on)
		m->moderated += got;
}

/* Should the owner leave the descriptor out of its poll at `now`? */
static inline bool tn_rxmod_holding(const struct tn_rxmod *m, uint64_t now)
{
	return m->on && now < m->win_end;
}

/* When the owner must look at the ring again, however quiet the
 * descriptor: the window's end while holding, else never. */
static inline uint64_t tn_rxmod_next(const struct tn_rxmod *m)
{
	return m->on ? m->win_end : UINT64_MAX;
}

#endif
