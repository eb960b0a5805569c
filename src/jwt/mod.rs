//! Offline verification of Decart client-token JWTs (EdDSA / Ed25519).
