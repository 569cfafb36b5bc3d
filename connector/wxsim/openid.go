package wxsim

// OpenID layout (28 bytes, all of [A-Za-z0-9_-]):
//
//	"o" + 5 account chars + 22 chars carrying 132 bits
//
// The 5 account chars derive from the seed alone, so every openid of one
// simulated account shares its first 6 characters, as real ones do. The 132
// bits are v = Feistel(seed, index) (64 bits, a keyed bijection, so
// consecutive indices look unrelated) followed by a 68-bit keyed check of v.
// Decoding inverts the Feistel network and verifies the check, so garbage,
// mutated openids and openids of another seed are rejected (a random string
// passes with probability 2^-98).

const (
	b64alphabet   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	feistelRounds = 6
	golden        = 0x9e3779b97f4a7c15
)

// mix64 is the splitmix64 finaliser: a fast, well-distributed bijection.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// derive returns a key for one purpose (domain) of one seed.
func derive(seed, domain uint64) uint64 {
	return mix64(mix64(seed^golden) + domain*0xd1b54a32d192ed03 + 1)
}

func b64val(c byte) (uint64, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return uint64(c - 'A'), true
	case c >= 'a' && c <= 'z':
		return uint64(c-'a') + 26, true
	case c >= '0' && c <= '9':
		return uint64(c-'0') + 52, true
	case c == '-':
		return 62, true
	case c == '_':
		return 63, true
	}
	return 0, false
}

// codec encodes indices as openids for one seed.
type codec struct {
	prefix [6]byte
	round  [feistelRounds]uint64
	check1 uint64
	check2 uint64
}

func newCodec(seed uint64) codec {
	var c codec
	p := derive(seed, 1)
	c.prefix[0] = 'o'
	for j := 1; j < 6; j++ {
		c.prefix[j] = b64alphabet[(p>>(6*j))&63]
	}
	for r := range c.round {
		c.round[r] = derive(seed, 10+uint64(r))
	}
	c.check1 = derive(seed, 2)
	c.check2 = derive(seed, 3)
	return c
}

func (c *codec) permute(x uint64) uint64 {
	l, r := uint32(x>>32), uint32(x)
	for k := 0; k < feistelRounds; k++ {
		l, r = r, l^uint32(mix64(uint64(r)^c.round[k]))
	}
	return uint64(l)<<32 | uint64(r)
}

func (c *codec) unpermute(y uint64) uint64 {
	l, r := uint32(y>>32), uint32(y)
	for k := feistelRounds - 1; k >= 0; k-- {
		l, r = r^uint32(mix64(uint64(l)^c.round[k])), l
	}
	return uint64(l)<<32 | uint64(r)
}

func (c *codec) check(v uint64) (uint64, uint64) {
	return mix64(v ^ c.check1), mix64(v^c.check2) & 0xF
}

// appendOpenID appends the openid of index i to dst.
func (c *codec) appendOpenID(dst []byte, i uint64) []byte {
	v := c.permute(i)
	m1, m2 := c.check(v)
	var out [OpenIDLength]byte
	copy(out[:6], c.prefix[:])
	for j := 0; j < 10; j++ {
		out[6+j] = b64alphabet[(v>>(58-6*j))&63]
	}
	out[16] = b64alphabet[(v&0xF)<<2|(m2>>2)&3]
	out[17] = b64alphabet[(m2&3)<<4|m1>>60]
	for j := 0; j < 10; j++ {
		out[18+j] = b64alphabet[(m1>>(54-6*j))&63]
	}
	return append(dst, out[:]...)
}

func (c *codec) openID(i uint64) string {
	var buf [OpenIDLength]byte
	return string(c.appendOpenID(buf[:0], i))
}

// index decodes an openid back to its index.
func (c *codec) index(s string) (uint64, bool) {
	if len(s) != OpenIDLength || s[:6] != string(c.prefix[:]) {
		return 0, false
	}
	var d [22]uint64
	for j := range d {
		x, ok := b64val(s[6+j])
		if !ok {
			return 0, false
		}
		d[j] = x
	}
	var v, m1 uint64
	for j := 0; j < 10; j++ {
		v = v<<6 | d[j]
	}
	v = v<<4 | d[10]>>2
	m2 := (d[10]&3)<<2 | d[11]>>4
	m1 = d[11] & 0xF
	for j := 12; j < 22; j++ {
		m1 = m1<<6 | d[j]
	}
	w1, w2 := c.check(v)
	if m1 != w1 || m2 != w2 {
		return 0, false
	}
	return c.unpermute(v), true
}

// OpenID returns the openid of follower index i of the account simulated
// with seed: 28 characters of [A-Za-z0-9_-], starting with "o" and 5
// characters shared by the whole account, the rest looking random.
// IndexOf(seed, OpenID(seed, i)) == i for every i.
func OpenID(seed, i uint64) string {
	c := newCodec(seed)
	return c.openID(i)
}

// IndexOf returns the index whose OpenID under seed is openid; ok is false
// for anything else (wrong length, alphabet, account prefix or check bits,
// or an openid of another seed). It does not say whether that index is a
// follower of a given Server: see [Server.Profile].
func IndexOf(seed uint64, openid string) (index uint64, ok bool) {
	c := newCodec(seed)
	return c.index(openid)
}
