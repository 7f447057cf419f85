<?php
/**
 * Panel tokens and body signatures.
 *
 * @package Kompas
 */

use PHPUnit\Framework\TestCase;

class TokenTest extends TestCase {

	private function parts( $token ) {
		$parts = explode( '.', $token );
		$this->assertCount( 3, $parts );
		$decode = function ( $part ) {
			return json_decode( base64_decode( strtr( $part, '-_', '+/' ) ), true );
		};
		return array( $decode( $parts[0] ), $decode( $parts[1] ), $parts );
	}

	public function test_a_token_binds_the_site_and_the_user_for_a_minute() {
		list( $header, $claims ) = $this->parts( Kompas_Token::mint( 'https://winkel.example/', 7, 'secret', 1700000000 ) );
		$this->assertSame( array( 'alg' => 'HS256', 'typ' => 'JWT' ), $header );
		$this->assertSame( 'https://winkel.example', $claims['iss'] );
		$this->assertSame( 'https://winkel.example', $claims['dest'] );
		$this->assertSame( 'kompas', $claims['aud'] );
		$this->assertSame( '7', $claims['sub'] );
		$this->assertSame( 1700000000, $claims['nbf'] );
		$this->assertSame( 1700000060, $claims['exp'] );
		$this->assertMatchesRegularExpression( '/^[0-9a-f]{32}$/', $claims['jti'] );
	}

	public function test_a_longer_lifetime_is_cut_to_a_minute() {
		list( , $claims ) = $this->parts( Kompas_Token::mint( 'https://winkel.example', 7, 'secret', 1700000000, 3600 ) );
		$this->assertSame( 60, $claims['exp'] - $claims['iat'] );
	}

	public function test_the_signature_is_hmac_sha256_of_header_and_claims() {
		list( , , $parts ) = $this->parts( Kompas_Token::mint( 'https://winkel.example', 7, 'secret', 1700000000 ) );
		$expected = rtrim( strtr( base64_encode( hash_hmac( 'sha256', $parts[0] . '.' . $parts[1], 'secret', true ) ), '+/', '-_' ), '=' );
		$this->assertSame( $expected, $parts[2] );
		$this->assertStringNotContainsString( '=', implode( '', $parts ) );
	}

	public function test_two_tokens_differ_by_their_id() {
		$this->assertNotSame( Kompas_Token::mint( 'https://w.example', 1, 's', 1 ), Kompas_Token::mint( 'https://w.example', 1, 's', 1 ) );
	}

	public function test_no_secret_or_no_user_is_refused() {
		$this->expectException( InvalidArgumentException::class );
		Kompas_Token::mint( 'https://winkel.example', 7, '', 1700000000 );
	}

	public function test_no_user_is_refused() {
		$this->expectException( InvalidArgumentException::class );
		Kompas_Token::mint( 'https://winkel.example', 0, 'secret', 1700000000 );
	}

	public function test_bodies_are_signed_as_woocommerce_signs_webhooks() {
		// The same value Python's base64(hmac.new(secret, body, sha256).digest()) gives.
		$this->assertSame( 'C4U83mEE5D277Wxd6sHhIjTDxe9QWkB0fL7LmANEegY=', Kompas_Token::sign( '{"token":"abc"}', 'wc-secret-AbC123xyz' ) );
	}
}
