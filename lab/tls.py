"""The lab's certificate authority: HTTPS listeners with certificates a client can validate.

The lab keeps a CA of its own in TLS_DIR (config.STATE_DIR/tls): `ca.pem` is what a client trusts (http_smoke's
`ca_path`, curl's `--cacert`); its key never leaves TLS_DIR. The seed issues a server certificate for the lab ALB's
DNS name and 127.0.0.1 and imports it into ACM (certificate, key and chain, as a user imports one); the certificate
ARN on a listener decides what that listener serves, as in AWS. ACM never gives a private key back, so the lab
keeps each key it issues in TLS_DIR/keys/<sha256 of the certificate>.key, and the ALB data plane finds the key of
the certificate ACM returns there. A certificate the lab did not issue has no key there: its listener refuses TLS.
"""
import datetime
import hashlib
import ipaddress
import ssl
from pathlib import Path

try:
    from lab import config
except ImportError:  # run as a file from lab/
    import config  # type: ignore

CA_NAME = "progressive.delivery lab CA"
CA_DAYS = 365
LEAF_DAYS = 90


def tls_dir():
    return Path(config.STATE_DIR) / "tls"


def ca_bundle_path():
    """The lab CA's certificate: the CA bundle a client of the lab's HTTPS listeners sets."""
    return tls_dir() / "ca.pem"


def fingerprint(cert_pem):
    """sha256 hex of a PEM certificate's DER bytes (as `openssl x509 -fingerprint -sha256` without colons)."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem if isinstance(cert_pem, str) else cert_pem.decode())
    return hashlib.sha256(der).hexdigest()


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key):
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert):
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _write_private(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def make_ca(now=None):
    """A new CA: (certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "progressive.delivery lab")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _pem_cert(cert), _pem_key(key)


def issue(ca_cert_pem, ca_key_pem, dns_names, ip_addresses=(), now=None):
    """A server certificate signed by the CA for dns_names (the first is the subject's CN) and ip_addresses:
    (certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    if not dns_names:
        raise ValueError("a server certificate needs at least one DNS name")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    key = _key()
    sans = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return _pem_cert(cert), _pem_key(key)


def ensure_ca():
    """The lab CA (certificate PEM, key PEM), made once per state dir and kept across resets and restarts, so a
    client trusts it once."""
    cert_path, key_path = ca_bundle_path(), tls_dir() / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path.read_text(), key_path.read_text()
    cert, key = make_ca()
    _write_private(key_path, key)
    cert_path.write_text(cert)
    return cert, key


def issue_server_certificate(dns_names, ip_addresses=("127.0.0.1",)):
    """Issue a certificate from the lab CA and keep its key where the data plane finds it.
    Returns {"certificate", "private_key", "chain"} as PEM text (what acm.import_certificate takes)."""
    ca_cert, ca_key = ensure_ca()
    cert, key = issue(ca_cert, ca_key, list(dns_names), list(ip_addresses))
    fp = fingerprint(cert)
    _write_private(tls_dir() / "keys" / (fp + ".key"), key)
    (tls_dir() / "keys" / (fp + ".pem")).write_text(cert + ca_cert)
    return {"certificate": cert, "private_key": key, "chain": ca_cert}


def server_context(cert_pem, key_dir=None):
    """An ssl server context serving cert_pem (with the chain the lab stored beside its key); None when the lab
    holds no key for that certificate (it did not issue it)."""
    key_dir = Path(key_dir) if key_dir else tls_dir() / "keys"
    fp = fingerprint(cert_pem)
    key_path, chain_path = key_dir / (fp + ".key"), key_dir / (fp + ".pem")
    if not key_path.exists() or not chain_path.exists():
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(chain_path), str(key_path))
    return ctx
