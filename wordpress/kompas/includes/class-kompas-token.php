<?php
/**
 * Short-lived panel tokens and body signatures.
 *
 * @package Kompas
 */

defined( 'ABSPATH' ) || exit;

/**
 * HS256 JSON Web Tokens for the panel iframe, and HMAC-SHA256 signatures of event bodies.
 *
 * The token binds one wp-admin user (`sub`) to this site (`iss` and `dest`, the site URL) for at
 * most a minute, for Kompas (`aud`). Kompas verifies it with the per-shop secret it gave this
 * plugin at connect, the way it verifies Shopify's session tokens.
 */
class Kompas_Token {

	const AUDIENCE     = 'kompas';
	const MAX_LIFETIME = 60;

	/**
	 * Base64url without padding (RFC 7515, section 2).
	 *
	 * @param string $data Raw bytes.
	 * @return string
	 */
	public static function base64url( $data ) {
		return rtrim( strtr( base64_encode( $data ), '+/', '-_' ), '=' ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
	}

	/**
	 * A panel token for `$user_id` on `$site`.
	 *
	 * @param string $site     The site URL, without trailing slash (the shop's key in Kompas).
	 * @param int    $user_id  The logged-in user.
	 * @param string $secret   The per-shop panel secret Kompas gave at connect.
	 * @param int    $now      The current Unix time.
	 * @param int    $lifetime Seconds the token is valid; at most MAX_LIFETIME.
	 * @return string
	 * @throws InvalidArgumentException When there is no secret or no user.
	 */
	public static function mint( $site, $user_id, $secret, $now, $lifetime = self::MAX_LIFETIME ) {
		if ( '' === (string) $secret ) {
			throw new InvalidArgumentException( 'no panel secret' );
		}
		if ( (int) $user_id <= 0 ) {
			throw new InvalidArgumentException( 'no user' );
		}
		$lifetime = max( 1, min( (int) $lifetime, self::MAX_LIFETIME ) );
		$site     = untrailingslashit( $site );
		$header   = array(
			'alg' => 'HS256',
			'typ' => 'JWT',
		);
		$claims   = array(
			'iss' => $site,
			'dest' => $site,
			'aud' => self::AUDIENCE,
			'sub' => (string) (int) $user_id,
			'iat' => (int) $now,
			'nbf' => (int) $now,
			'exp' => (int) $now + $lifetime,
			'jti' => bin2hex( random_bytes( 16 ) ),
		);
		$signing_input = self::base64url( wp_json_encode( $header ) ) . '.' . self::base64url( wp_json_encode( $claims ) );
		return $signing_input . '.' . self::base64url( hash_hmac( 'sha256', $signing_input, $secret, true ) );
	}

	/**
	 * The signature header value of a body, as WooCommerce signs its webhooks:
	 * base64( HMAC-SHA256( secret, body ) ).
	 *
	 * @param string $body   The exact bytes sent.
	 * @param string $secret The shop's webhook secret.
	 * @return string
	 */
	public static function sign( $body, $secret ) {
		return base64_encode( hash_hmac( 'sha256', $body, $secret, true ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
	}
}
