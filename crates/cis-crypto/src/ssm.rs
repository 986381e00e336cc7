//! Publisher signing keys from AWS SSM Parameter Store (`CIS_SECRET_MANAGER=aws-ssm`,
//! profile-and-crypto §3.4): SecureString `<path>/<publisher>` holding a private JWK (JSON) or a
//! PEM. Retries are the SDK's (bounded); the Python provider's ~8 minutes of sleeping before an
//! AttributeError is not reproduced.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;

use crate::error::CryptoError;
use crate::keys::SigningKey;
use crate::signer::Signer;

/// The SSM parameter name of a publisher key: `<path>/<publisher>` (one `/` between them).
pub fn parameter_name(path: &str, publisher: &str) -> String {
    format!("{}/{publisher}", path.trim_end_matches('/'))
}

/// The decrypted value of the SSM parameter `name` (a SecureString: keys, salts, client
/// secrets). Empty values count as missing. Callers must not log it.
pub async fn secure_parameter(client: &Client, name: &str) -> Result<String, CryptoError> {
    let failed = |reason: String| CryptoError::SecretFetch {
        name: name.to_owned(),
        reason,
    };
    let output = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| {
            let not_found = error
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found());
            if not_found {
                failed("parameter not found".to_owned())
            } else {
                failed(DisplayErrorContext(&error).to_string())
            }
        })?;
    output
        .parameter()
        .and_then(|parameter| parameter.value())
        .filter(|value| !value.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| failed("parameter has no value".to_owned()))
}

/// The signing key stored (decrypted) in the SSM parameter `name`.
pub async fn signing_key_from_ssm(client: &Client, name: &str) -> Result<SigningKey, CryptoError> {
    let text = secure_parameter(client, name).await?;
    // The value is a secret: the parse error says what is wrong with the format, never the text.
    SigningKey::from_pem_or_jwk(&text)
}

/// A [`Signer`] with the key of each publisher read from `<path>/<publisher>`.
pub async fn signer_from_ssm(
    client: &Client,
    path: &str,
    publishers: &[&str],
) -> Result<Signer, CryptoError> {
    let mut signer = Signer::new();
    for publisher in publishers {
        let key = signing_key_from_ssm(client, &parameter_name(path, publisher)).await?;
        signer.insert(*publisher, key);
    }
    Ok(signer)
}
