import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from fedsim.deployment.certs import make_certs


def test_certs_chain_sans_and_node_keys(tmp_path):
    paths = make_certs(tmp_path / "c", num_nodes=2, hosts=["10.1.2.3", "link.example.org"])
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "link.example.org"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.1.2.3"),
    }
    assert len(paths.node_keys) == 2
    for k in range(2):
        private = load_ssh_private_key(paths.node_keys[k].read_bytes(), password=None)
        public = load_ssh_public_key(paths.node_public(k).read_bytes())
        assert isinstance(private.curve, ec.SECP384R1)
        assert private.public_key().public_numbers() == public.public_numbers()
        assert paths.node_keys[k].stat().st_mode & 0o077 == 0
    assert paths.server_key.stat().st_mode & 0o077 == 0
    assert (tmp_path / "c" / "ca.key").stat().st_mode & 0o077 == 0  # CA private key


def test_certs_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="num_nodes"):
        make_certs(tmp_path, num_nodes=-1)
    with pytest.raises(ValueError, match="host"):
        make_certs(tmp_path, num_nodes=0, hosts=["bad host"])
