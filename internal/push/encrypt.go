package push

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

const (
	saltLen    = 16
	authLen    = 16
	pointLen   = 65                              // an uncompressed P-256 point
	headerLen  = saltLen + 4 + 1 + pointLen      // salt, rs, idlen, keyid (RFC 8188, section 2.1)
	tagLen     = 16                              // AES-GCM's tag
	recordSize = 4096                            // rs: the one record is never longer
	padBlock   = 256                             // plaintext lengths are rounded up to this
	maxRecord  = recordSize - headerLen - tagLen // plaintext, delimiter and padding
)

// seal encrypts plaintext for t with a fresh key pair and salt.
func seal(plaintext []byte, t *target) ([]byte, error) {
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("push: key pair: %w", err)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	return encrypt(plaintext, t.key, t.authCode, eph, salt, padding(len(plaintext)))
}

// padding returns how many zero bytes follow the delimiter so that the
// record's plaintext is a multiple of padBlock, within one record.
func padding(n int) int {
	total := (n + 1 + padBlock - 1) / padBlock * padBlock
	if total > maxRecord {
		total = maxRecord
	}
	return max(total-n-1, 0)
}

// encrypt returns the aes128gcm body of a push message (RFC 8291, section
// 3.4): eph is the sender's one-use key pair, salt 16 random bytes, and the
// plaintext is followed by the delimiter 2 and pad zero bytes in a single
// record.
func encrypt(plaintext []byte, ua *ecdh.PublicKey, auth []byte, eph *ecdh.PrivateKey, salt []byte, pad int) ([]byte, error) {
	if pad < 0 || len(plaintext)+1+pad > maxRecord {
		return nil, ErrPayloadTooLarge
	}
	shared, err := eph.ECDH(ua)
	if err != nil {
		return nil, fmt.Errorf("push: ECDH: %w", err)
	}
	asPublic := eph.PublicKey().Bytes()
	// IKM = HKDF(salt = auth, ikm = shared, info = "WebPush: info" 0 ua as).
	info := "WebPush: info\x00" + string(ua.Bytes()) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, shared, auth, info, 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	record := make([]byte, len(plaintext)+1+pad)
	copy(record, plaintext)
	record[len(plaintext)] = 2 // the last (and only) record

	body := make([]byte, headerLen, headerLen+len(record)+tagLen)
	copy(body, salt)
	binary.BigEndian.PutUint32(body[saltLen:], recordSize)
	body[saltLen+4] = pointLen
	copy(body[saltLen+5:], asPublic)
	return gcm.Seal(body, nonce, record, nil), nil
}
