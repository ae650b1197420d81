#!/usr/bin/python3
"""Cross-checks policy/csr.c against python3-cryptography, an independent
PKCS#10 implementation (Rust ASN.1 and OpenSSL underneath, not our walker).

  csr_vectors.py > test/unit/csr_vectors.h

Makes fresh keys and requests and prints them as C, with what csr_parse()
must find in each: key type and size, commonName, SANs, the SHA-256 of the
DER, or, for requests it must refuse, a word of the reason. Run once by
hand; the output is committed, so the unit test needs no Python.
"""

import hashlib
import ipaddress
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (ec, ed448, ed25519,
                                                       padding, rsa)
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AttributeOID, ExtendedKeyUsageOID, NameOID

SAN_C = {
    x509.DNSName: "SAN_DNS",
    x509.IPAddress: "SAN_IP",
    x509.RFC822Name: "SAN_EMAIL",
    x509.UniformResourceIdentifier: "SAN_URI",
}


def rsa_key(bits):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(cn, cn_type=None, extra=True):
    attrs = []
    if extra:
        attrs += [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FI"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "p11ca test"),
        ]
    if cn is not None:
        if cn_type is None:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        else:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn, cn_type))
    if extra:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                        "unit"))
    return x509.Name(attrs)


def build(key, md, cn, sans=(), cn_type=None, extra=True, attrs=False):
    b = x509.CertificateSigningRequestBuilder().subject_name(
        name(cn, cn_type, extra))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)),
                            critical=False)
    if extra:
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                            critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if attrs:
        b = b.add_attribute(AttributeOID.CHALLENGE_PASSWORD, b"s3cret")
        b = b.add_attribute(AttributeOID.UNSTRUCTURED_NAME, b"device-7")
    return b.sign(key, md)


def der(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


# RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (RFC 4055 as Go writes it)
SHA256_ALG = der(0x30, bytes.fromhex("0609608648016503040201") + b"\x05\x00")
PSS_ALG = der(0x30, bytes.fromhex("06092a864886f70d01010a") + der(0x30,
    der(0xa0, SHA256_ALG) +
    der(0xa1, der(0x30, bytes.fromhex("06092a864886f70d010108") +
                  SHA256_ALG)) +
    der(0xa2, bytes.fromhex("020120"))))


def pss(key, csr):
    """The same request re-signed with RSASSA-PSS: cryptography 38 cannot
    build one, so the envelope is put together here by hand."""
    tbs = csr.tbs_certrequest_bytes
    sig = key.sign(tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                    salt_length=32), hashes.SHA256())
    raw = der(0x30, tbs + PSS_ALG + der(0x03, b"\x00" + sig))
    out = x509.load_der_x509_csr(raw)
    assert out.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"
    key.public_key().verify(out.signature, out.tbs_certrequest_bytes,
                            padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                        salt_length=32), hashes.SHA256())
    return out


def san_value(g):
    if isinstance(g, x509.IPAddress):
        return str(g.value)
    return g.value


def c_str(s):
    out = '"'
    for ch in s.encode():
        if ch in (0x22, 0x5c):
            out += "\\" + chr(ch)
        elif ch == 0x0a:
            out += "\\n"
        elif 0x20 <= ch < 0x7f:
            out += chr(ch)
        else:
            # Octal, always three digits: never runs into what follows.
            out += "\\%03o" % ch
    return out + '"'


def c_lines(s, indent="    "):
    lines = s.splitlines(keepends=True)
    return "\n".join(indent + c_str(l) for l in lines)


def vector(label, csr, keytype, bits, cn, sans, refuse=None):
    der = csr.public_bytes(serialization.Encoding.DER)
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    if csr.signature_algorithm_oid.dotted_string != "1.2.840.113549.1.1.10":
        assert csr.is_signature_valid
    out = ["\t{", "\t    %s," % c_str(label), "\t    " +
           c_lines(pem, "").replace("\n", "\n\t    ") + ","]
    out.append("\t    %s, %d, %s," % (keytype, bits, c_str(cn or "")))
    out.append("\t    %d, {" % len(sans))
    for g in sans:
        out.append("\t\t{ %s, %s }," % (SAN_C[type(g)], c_str(san_value(g))))
    out.append("\t    },")
    out.append("\t    %s," % c_str(hashlib.sha256(der).hexdigest()))
    out.append("\t    %s," % (c_str(refuse) if refuse else "NULL"))
    out.append("\t},")
    return "\n".join(out)


def main():
    # The SHA-1 request is there to be refused.
    warnings.simplefilter("ignore")
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    p521 = ec.generate_private_key(ec.SECP521R1())
    k1 = ec.generate_private_key(ec.SECP256K1())
    r2048 = rsa_key(2048)
    r3072 = rsa_key(3072)
    r1024 = rsa_key(1024)
    ed = ed25519.Ed25519PrivateKey.generate()
    ed4 = ed448.Ed448PrivateKey.generate()

    all_sans = [
        x509.DNSName("host.example.com"),
        x509.DNSName("*.svc.example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1:0:0:1")),
        x509.RFC822Name("ops@example.com"),
        x509.UniformResourceIdentifier("spiffe://example.com/ns/web"),
    ]
    vs = [
        vector("p256-all-sans", build(p256, hashes.SHA256(),
               "host.example.com", all_sans, attrs=True),
               "KEYTYPE_EC_P256", 0, "host.example.com", all_sans),
        vector("p384-sha384", build(p384, hashes.SHA384(), "p384.example",
               all_sans[:1]), "KEYTYPE_EC_P384", 0, "p384.example",
               all_sans[:1]),
        vector("p521-sha512", build(p521, hashes.SHA512(), "p521.example",
               all_sans[2:4]), "KEYTYPE_EC_P521", 0, "p521.example",
               all_sans[2:4]),
        vector("rsa2048-no-cn", build(r2048, hashes.SHA256(), None,
               all_sans[4:]), "KEYTYPE_RSA", 2048, None, all_sans[4:]),
        vector("rsa2048-pss", pss(r2048, build(r2048, hashes.SHA256(),
               "pss.example", all_sans[:3])), "KEYTYPE_RSA", 2048,
               "pss.example", all_sans[:3]),
        vector("rsa3072-sha512", build(r3072, hashes.SHA512(), "rsa.example",
               extra=False), "KEYTYPE_RSA", 3072, "rsa.example", []),
        vector("ed25519-utf8", build(ed, None, "h\u00e9llo w\u00f6rld \u2603",
               all_sans[:1]), "KEYTYPE_ED25519", 0,
               "h\u00e9llo w\u00f6rld \u2603", all_sans[:1]),
        vector("p256-bmp-cn", build(p256, hashes.SHA256(), "bmp-\u00e5\u20ac",
               cn_type=_ASN1Type.BMPString, extra=False), "KEYTYPE_EC_P256",
               0, "bmp-\u00e5\u20ac", []),
        vector("p256-printable-cn", build(p256, hashes.SHA256(),
               "printable.example", cn_type=_ASN1Type.PrintableString),
               "KEYTYPE_EC_P256", 0, "printable.example", []),
        vector("p256-bare", build(p256, hashes.SHA256(), None, extra=False),
               "KEYTYPE_EC_P256", 0, None, []),
        vector("rsa1024", build(r1024, hashes.SHA256(), "weak.example"),
               "KEYTYPE_RSA", 1024, "weak.example", [], refuse="2048"),
        vector("secp256k1", build(k1, hashes.SHA256(), "k1.example"),
               "0", 0, "k1.example", [], refuse="curve"),
        vector("ed448", build(ed4, None, "ed448.example"), "0", 0,
               "ed448.example", [], refuse="key type"),
        vector("p256-sha1", build(p256, hashes.SHA1(), "sha1.example"),
               "KEYTYPE_EC_P256", 0, "sha1.example", [],
               refuse="signature algorithm"),
    ]
    print("/* Generated by test/unit/csr_vectors.py (python3-cryptography);"
          " do not edit. */")
    print("#ifndef CSR_VECTORS_H\n#define CSR_VECTORS_H\n")
    print("struct csr_vector {")
    print("\tconst char\t*label;")
    print("\tconst char\t*pem;")
    print("\tint\t\t keytype;\t/* what a csr_parse() that accepts says */")
    print("\tint\t\t bits;")
    print("\tconst char\t*cn;")
    print("\tint\t\t nsans;")
    print("\tstruct {")
    print("\t\tint\t\t type;")
    print("\t\tconst char\t*value;")
    print("\t}\t\t sans[8];")
    print("\tconst char\t*fp;\t\t/* SHA-256 of the DER, hex */")
    print("\tconst char\t*refuse;\t/* NULL, or a word of the reason */")
    print("};\n")
    print("static const struct csr_vector csr_vectors[] = {")
    print("\n".join(vs))
    print("};\n\n#endif")


if __name__ == "__main__":
    main()
