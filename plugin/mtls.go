package plugin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"time"
)

// Mutual TLS between the host and its plugins.
//
// go-plugin's AutoMTLS makes a P-521 key and certificate on each side at
// every launch and verifies P-521 signatures in the handshake: about 40 ms
// of CPU a launch here, more than a small account's whole sync when a
// thousand accounts each get a plugin. Instead the host makes one set of
// Credentials per process: a throw-away Ed25519 certificate authority that
// signs a host certificate and a plugin certificate, then is forgotten. Each
// launch hands the plugin its certificate, its key and the authority's
// certificate through a pipe (file descriptor 3), never the environment
// (readable in /proc) nor a file. Each side then accepts only a peer whose
// certificate the authority signed: the host's connection to the plugin and
// the plugin's connections back to the host's broker alike.

// EnvTLSFD names the variable that tells a plugin which file descriptor
// carries its TLS credentials; without it the plugin serves without TLS.
const EnvTLSFD = "WXSYNC_PLUGIN_TLS_FD"

// tlsFD is the descriptor the credentials arrive on: the first of
// exec.Cmd's ExtraFiles.
const tlsFD = 3

// tlsServerName is the name both certificates carry and both sides check.
const tlsServerName = "wxsync-plugin"

// tlsCredentialsLimit bounds what a plugin reads from the descriptor.
const tlsCredentialsLimit = 64 << 10

// Credentials are one host process's TLS identities for talking to its
// plugins. Make them once (NewCredentials) and launch every plugin with
// them.
type Credentials struct {
	host   tls.Certificate
	pool   *x509.CertPool
	plugin []byte // PEM: the authority's certificate, the plugin's, its key
}

// NewCredentials makes a certificate authority, a host certificate and a
// plugin certificate, all Ed25519, valid for ten years (a `wxsync listen`
// runs for months; they live only in this process and its plugins).
func NewCredentials() (*Credentials, error) {
	caPub, caKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make the plugin TLS authority: %w", err)
	}
	now := time.Now()
	ca := certTemplate(now, "wxsync plugin authority")
	ca.IsCA, ca.KeyUsage = true, x509.KeyUsageCertSign
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caPub, caKey)
	if err != nil {
		return nil, fmt.Errorf("make the plugin TLS authority: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("make the plugin TLS authority: %w", err)
	}
	c := &Credentials{pool: x509.NewCertPool()}
	c.pool.AddCert(caCert)
	hostDER, hostKey, err := leafCert(now, caCert, caKey)
	if err != nil {
		return nil, err
	}
	c.host = tls.Certificate{Certificate: [][]byte{hostDER}, PrivateKey: hostKey}
	pluginDER, pluginKey, err := leafCert(now, caCert, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(pluginKey)
	if err != nil {
		return nil, fmt.Errorf("make the plugin TLS certificate: %w", err)
	}
	for _, b := range []*pem.Block{{Type: "CERTIFICATE", Bytes: caDER}, {Type: "CERTIFICATE", Bytes: pluginDER}, {Type: "PRIVATE KEY", Bytes: keyDER}} {
		c.plugin = append(c.plugin, pem.EncodeToMemory(b)...)
	}
	return c, nil
}

// certTemplate is a certificate valid from a minute ago for ten years.
func certTemplate(now time.Time, name string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(10, 0, 0),
		BasicConstraintsValid: true,
	}
}

// leafCert makes a key and a certificate for tlsServerName, good for a
// client and a server, signed by the authority.
func leafCert(now time.Time, ca *x509.Certificate, caKey ed25519.PrivateKey) ([]byte, ed25519.PrivateKey, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("make a plugin TLS certificate: %w", err)
	}
	t := certTemplate(now, tlsServerName)
	t.DNSNames = []string{tlsServerName}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	der, err := x509.CreateCertificate(rand.Reader, t, ca, pub, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("make a plugin TLS certificate: %w", err)
	}
	return der, key, nil
}

// hostConfig is the host's side: a client of the plugin, and the server
// of the broker the plugin calls back on.
func (c *Credentials) hostConfig() *tls.Config {
	return peerConfig(c.host, c.pool)
}

// peerConfig accepts, as client or server, only a peer whose certificate
// pool's authority signed for tlsServerName.
func peerConfig(cert tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ServerName:   tlsServerName,
		MinVersion:   tls.VersionTLS13,
	}
}

// pipe returns the read end of a pipe holding the plugin's credentials,
// for the plugin's ExtraFiles; the caller closes it once the plugin has
// started.
func (c *Credentials) pipe() (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pass TLS credentials to the plugin: %w", err)
	}
	// A pipe holds 64 KiB before a write blocks; the credentials are
	// under 1 KiB.
	_, err = w.Write(c.plugin)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("pass TLS credentials to the plugin: %w", err)
	}
	return r, nil
}

// pluginTLS is the plugin's TLS configuration: nil when the host passed
// no credentials (EnvTLSFD unset), an error when it named a descriptor that
// does not hold them.
func pluginTLS() (*tls.Config, error) {
	v := os.Getenv(EnvTLSFD)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd != tlsFD {
		return nil, fmt.Errorf("%s=%q: want %d", EnvTLSFD, v, tlsFD)
	}
	f := os.NewFile(uintptr(fd), "tls-credentials")
	if f == nil {
		return nil, fmt.Errorf("%s: descriptor %d is not open", EnvTLSFD, fd)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, tlsCredentialsLimit))
	if err != nil {
		return nil, fmt.Errorf("read TLS credentials: %w", err)
	}
	return parseCredentials(b)
}

// parseCredentials reads the authority's certificate, the plugin's
// certificate and its key, in that order.
func parseCredentials(b []byte) (*tls.Config, error) {
	var blocks []*pem.Block
	for len(blocks) < 3 {
		var p *pem.Block
		if p, b = pem.Decode(b); p == nil {
			return nil, errors.New("read TLS credentials: want 3 PEM blocks (authority, certificate, key)")
		}
		blocks = append(blocks, p)
	}
	ca, err := x509.ParseCertificate(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("read TLS credentials: the authority: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(blocks[2].Bytes)
	if err != nil {
		return nil, errors.New("read TLS credentials: the key does not parse") // never its bytes
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return peerConfig(tls.Certificate{Certificate: [][]byte{blocks[1].Bytes}, PrivateKey: key}, pool), nil
}
