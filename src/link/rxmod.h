/* Receive moderation for a driver whose owner sleeps on a file descriptor:
 * the software side of a NIC's interrupt coalescing (ethtool -C rx-usecs
 * with adaptive-rx).
 *
 * A NIC interrupts per frame under light load and every rx-usecs under a
 * stream.  A socket's wake-up costs the same as an interrupt, or more: an
 * AF_XDP socket woken per frame took a 64-byte flood 4.4 frames per wake-up
 * at 3.7 us of CPU per frame, most of it the context switch.  So frames are
 * counted per window; while the last window brought a stream (TN_RXMOD_MIN
 * frames or more), the driver leaves its descriptor out of the owner's
 * poll and the owner sleeps out the window on its timer, then takes what
 * accumulated in one pass.  A frame after a quiet window still wakes the
 * owner at once (ping, a lone request), and so does one after an idle gap.
 *
 * The window adapts, as a NIC's adaptive coalescing (Linux's DIM) does: a
 * window that brought TN_RXMOD_GROW frames or more doubles the next (up to
 * max_ns), one that brought fewer than a quarter of that halves it (down
 * to rx_ns).  But a doubling that cut the frame rate by an eighth or more
 * is undone, and growth rests for TN_RXMOD_REST windows: a closed loop
 * (wrk's 32 connections, each waiting for its answer) fills any window with
 * as many frames as it has requests out, so only the rate tells that the
 * window itself became the bottleneck.  A flood, whose rate is the
 * sender's, grows to max_ns and is taken hundreds of frames a wake-up, as
 * a TPACKET_V3 block would give them. */
#ifndef TERN_LINK_RXMOD_H
#define TERN_LINK_RXMOD_H

#include <stdbool.h>
#include <stdint.h>

#define TN_RXMOD_MIN 4u              /* frames in a window that make it a stream */
#define TN_RXMOD_GROW 8u             /* frames in a window that double the next */
#define TN_RXMOD_REST 16u            /* windows without growth after one that cost rate */
#define TN_RXMOD_MAX_NS 1000000u     /* the drivers' longest window: a V3 block's retire time */
#define TN_RXMOD_USECS 50u           /* the drivers' shortest window, by default */

struct tn_rxmod {
	uint64_t rx_ns;     /* shortest window; 0: moderation off */
	uint64_t max_ns;    /* longest window (rx_ns if less) */
	uint64_t win_ns;    /* the current window's length */
	uint64_t win_start, win_end;
	uint64_t last_fps;  /* frames per second of the window before */
	uint32_t frames;    /* frames taken in the current window */
	uint32_t rest;      /* windows left before growth may resume */
	bool on;            /* the last window was a stream: hold the descriptor */
	bool grew;          /* the current window is double the one before */
	uint64_t moderated; /* frames taken while on */
};

/* A driver's moderation from its rx_usecs setting: 0 the default,
 * UINT32_MAX off. */
static inline void tn_rxmod_init(struct tn_rxmod *m, uint32_t rx_usecs)
{
	*m = (struct tn_rxmod){
		.rx_ns = rx_usecs == UINT32_MAX ? 0 : (uint64_t)(rx_usecs ? rx_usecs : TN_RXMOD_USECS) * 1000u,
		.max_ns = TN_RXMOD_MAX_NS,
	};
}

/* The next window's length, after one of w that brought f frames at fps. */
static inline uint64_t tn_rxmod_adapt(struct tn_rxmod *m, uint64_t w, uint32_t f, uint64_t fps)
{
	uint64_t max = m->max_ns > m->rx_ns ? m->max_ns : m->rx_ns;
	bool grew = m->grew;
	m->grew = false;
	if (m->rest)
		m->rest--;
	if (grew && fps * 8 < m->last_fps * 7) { /* the longer window cost rate: back */
		m->rest = TN_RXMOD_REST;
		return w / 2 > m->rx_ns ? w / 2 : m->rx_ns;
	}
	if (f >= TN_RXMOD_GROW && !m->rest && w < max) {
		m->grew = true;
		return 2 * w < max ? 2 * w : max;
	}
	if (f < TN_RXMOD_GROW / 4)
		return w / 2 > m->rx_ns ? w / 2 : m->rx_ns;
	return w;
}

/* Count `got` frames taken at `now` (calls with 0 frames count too: they
 * close a window on time).  `more`: the call took all it was allowed
 * (a full burst), so the ring may hold more. */
static inline void tn_rxmod_note(struct tn_rxmod *m, uint64_t now, uint32_t got, bool more)
{
	if (!m->rx_ns)
		return;
	m->frames += got;
	if (m->on)
		m->moderated += got;
	/* What is taken after the window's end arrived while it ran (the
	 * owner slept it out): it is the window's, up to the last burst of
	 * the backlog.  Closed at the first burst, a window of 40 frames
	 * counted 32 and its rate looked cut by the growth that brought it. */
	if (now < m->win_end || more)
		return;
	uint64_t w = m->win_ns ? m->win_ns : m->rx_ns;
	uint64_t late = w > TN_RXMOD_MAX_NS ? w : TN_RXMOD_MAX_NS;
	/* a window judged long after its end was idle since (a wake-up may
	 * come late by a scheduler's delay: a millisecond is late) */
	m->on = m->frames >= TN_RXMOD_MIN && now < m->win_end + late;
	uint64_t fps = now > m->win_start ? (uint64_t)m->frames * 1000000000ull / (now - m->win_start) : 0;
	if (m->on) {
		w = tn_rxmod_adapt(m, w, m->frames, fps);
	} else {
		w = m->rx_ns;
		m->grew = false;
	}
	m->last_fps = fps;
	m->win_ns = w;
	m->win_start = now;
	m->win_end = now + w;
	m->frames = 0;
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
