/* SHA-1 (FIPS 180-4), portable rounds and the x86 SHA extensions. */
#include "kratixfs/sha1.h"

#include <string.h>

#include "kratixfs/sha256.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

#if defined(__x86_64__)
/* With the SHA extensions: four rounds per instruction, message schedule included. */
__attribute__((target("sha,sse4.1"))) static void blocks_ni(uint32_t h[5], const uint8_t *p,
							    size_t n)
{
	/* Big-endian words, the first one in the highest lane, as sha1rnds4 takes them. */
	const __m128i mask = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1B);
	__m128i e = _mm_set_epi32((int)h[4], 0, 0, 0);
	for (; n > 0; n--, p += 64) {
		__m128i abcd0 = abcd, e0 = e, prev = abcd, w[4];
		for (int g = 0; g < 20; g++) {
			if (g < 4)
				w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)),
							mask);
			else /* W[t] = rol1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]), four at a time */
				w[g % 4] = _mm_sha1msg2_epu32(
				    _mm_xor_si128(_mm_sha1msg1_epu32(w[g % 4], w[(g + 1) % 4]),
						  w[(g + 2) % 4]),
				    w[(g + 3) % 4]);
			/* E for these four rounds: the first from the state, then from A four
			 * rounds back, rotated. */
			__m128i ew = g == 0 ? _mm_add_epi32(e, w[0]) : _mm_sha1nexte_epu32(prev, w[g % 4]);
			prev = abcd;
			switch (g / 5) {
			case 0: abcd = _mm_sha1rnds4_epu32(abcd, ew, 0); break;
			case 1: abcd = _mm_sha1rnds4_epu32(abcd, ew, 1); break;
			case 2: abcd = _mm_sha1rnds4_epu32(abcd, ew, 2); break;
			default: abcd = _mm_sha1rnds4_epu32(abcd, ew, 3); break;
			}
		}
		e = _mm_sha1nexte_epu32(prev, e0);
		abcd = _mm_add_epi32(abcd, abcd0);
	}
	_mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1B));
	h[4] = (uint32_t)_mm_extract_epi32(e, 3);
}
#endif

static void blocks(uint32_t h[5], const uint8_t *p, size_t n)
{
#if defined(__x86_64__)
	if (kfs_sha_extensions()) {
		blocks_ni(h, p, n);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++)
		block(h, p + 64 * i);
}

void kfs_sha1_init(struct kfs_sha1 *s)
{
	static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
				       0xc3d2e1f0};
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

void kfs_sha1_add(struct kfs_sha1 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	s->len += len;
	if (s->n) {
		size_t take = 64 - s->n < len ? 64 - s->n : len;
		memcpy(s->buf + s->n, p, take);
		s->n += take, p += take, len -= take;
		if (s->n < 64)
			return;
		blocks(s->h, s->buf, 1);
		s->n = 0;
	}
	blocks(s->h, p, len / 64);
	p += len / 64 * 64;
	len %= 64;
	memcpy(s->buf, p, len);
	s->n = len;
}

void kfs_sha1_done(struct kfs_sha1 *s, uint8_t out[20])
{
	uint64_t bits = s->len * 8;
	uint8_t pad[72] = {0x80};
	size_t padlen = (s->n < 56 ? 56 : 120) - s->n;
	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	kfs_sha1_add(s, pad, padlen + 8);
	for (int i = 0; i < 20; i++)
		out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}
