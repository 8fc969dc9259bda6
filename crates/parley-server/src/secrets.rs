//! Secrets at rest: provider credentials are sealed with ChaCha20-Poly1305 under a 256-bit key
//! before they reach the store. The key comes from `PARLEY_SECRET_KEY` (64 hex digits) or a key
//! file generated in the data dir on first start; several servers sharing one PostgreSQL must
//! share the key. A sealed value is `v1:` + base64(nonce ‖ ciphertext).

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

const PREFIX: &str = "v1:";
pub const KEY_ENV: &str = "PARLEY_SECRET_KEY";
pub const KEY_FILE: &str = "secret.key";

pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// Signs links Parley hands out (`routes/public_media.rs`): derived from the same key, so a
    /// new key also voids every link, and never the sealing key itself.
    link_key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key must be 64 hexadecimal digits (32 bytes)")]
    BadKey,
    #[error("cannot read or create the key file {path}: {error}")]
    KeyFile { path: String, error: std::io::Error },
    #[error("a sealed secret could not be opened: wrong PARLEY_SECRET_KEY or corrupt data")]
    Open,
}

impl SecretBox {
    pub fn new(key: [u8; 32]) -> Self {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(b"parley link signing v1");
        let link_key = mac.finalize().into_bytes().into();
        SecretBox { cipher: ChaCha20Poly1305::new(&Key::from(key)), link_key }
    }

    /// The key that signs the links Parley hands out.
    pub fn link_key(&self) -> &[u8; 32] {
        &self.link_key
    }

    /// A box with a random key (tests, throwaway demos).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SecretBox::new(key)
    }

    pub fn from_hex(hex_key: &str) -> Result<Self, SecretError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SecretError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(SecretBox::new(key))
    }

    /// The key from `PARLEY_SECRET_KEY` when set, else from `<data_dir>/secret.key`, created
    /// (mode 0600) when missing.
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<Self, SecretError> {
        if let Some(hex_key) = env_value.filter(|v| !v.trim().is_empty()) {
            return SecretBox::from_hex(hex_key);
        }
        let path = data_dir.join(KEY_FILE);
        let io_err = |error| SecretError::KeyFile { path: path.display().to_string(), error };
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretBox::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                parley_store::create_private_dir(data_dir).map_err(io_err)?;
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(io_err)?;
                file.write_all(hex::encode(key).as_bytes()).map_err(io_err)?;
                Ok(SecretBox::new(key))
            }
            Err(e) => Err(io_err(e)),
        }
    }

    pub fn seal(&self, plain: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a fresh nonce and an in-memory buffer cannot fail.
        let sealed = self.cipher.encrypt(&Nonce::from(nonce), plain).expect("ChaCha20-Poly1305 encryption");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let data = sealed.strip_prefix(PREFIX).and_then(|b| B64.decode(b).ok()).ok_or(SecretError::Open)?;
        if data.len() < 12 {
            return Err(SecretError::Open);
        }
        let (nonce, ciphertext) = data.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretError::Open)?;
        self.cipher.decrypt(&Nonce::from(nonce), ciphertext).map_err(|_| SecretError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let b = SecretBox::random();
        let sealed = b.seal(b"EAAG-access-token");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("EAAG"));
        assert_ne!(sealed, b.seal(b"EAAG-access-token"), "fresh nonce each time");
        assert_eq!(b.open(&sealed).unwrap(), b"EAAG-access-token");
        assert!(SecretBox::random().open(&sealed).is_err(), "another key cannot open it");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(b.open(&tampered).is_err());
        assert!(b.open("plain").is_err());
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretBox::load(None, dir.path()).unwrap();
        let sealed = first.seal(b"x");
        let second = SecretBox::load(None, dir.path()).unwrap();
        assert_eq!(second.open(&sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(SecretBox::load(Some("abc"), dir.path()).is_err());
        let hex_key = "11".repeat(32);
        let a = SecretBox::load(Some(&hex_key), dir.path()).unwrap();
        assert_eq!(SecretBox::from_hex(&hex_key).unwrap().open(&a.seal(b"y")).unwrap(), b"y");
    }
}
