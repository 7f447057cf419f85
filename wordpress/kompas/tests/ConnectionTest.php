<?php
/**
 * The connection: what Kompas hands over, connect and disconnect.
 *
 * @package Kompas
 */

use PHPUnit\Framework\TestCase;

class ConnectionTest extends TestCase {

	private $data;

	protected function setUp(): void {
		kompas_test_reset();
		$this->data = kompas_test_connection();
	}

	public function test_the_route_keeps_what_kompas_sends() {
		$connection = new Kompas_Connection();
		$response   = $connection->rest_store( new Kompas_Test_Request( $this->data ) );
		$this->assertSame( 200, $response->status );
		$this->assertTrue( $connection->is_connected() );
		$this->assertSame( 12, $connection->get()['key_id'] );
	}

	public function test_incomplete_or_broken_data_is_refused() {
		$connection = new Kompas_Connection();
		$missing    = $this->data;
		unset( $missing['panel_secret'] );
		$bad_url              = $this->data;
		$bad_url['panel_url'] = 'javascript:alert(1)';
		$foreign              = $this->data;
		$foreign['panel_url'] = 'https://kompas.test.evil.example/panel/';
		foreach ( array( $missing, $bad_url, $foreign, null ) as $data ) {
			$result = $connection->rest_store( new Kompas_Test_Request( $data ) );
			$this->assertInstanceOf( WP_Error::class, $result );
			$this->assertSame( 400, $result->get_error_data()['status'] );
		}
		$this->assertFalse( $connection->is_connected() );
	}

	public function test_only_shop_managers_may_change_the_connection() {
		$connection = new Kompas_Connection();
		$this->assertTrue( $connection->rest_permission() );
		$GLOBALS['kompas_test']['caps'] = array();
		$this->assertFalse( $connection->rest_permission() );
	}

	public function test_the_connect_link_names_the_site_and_the_way_back() {
		$url = ( new Kompas_Connection() )->connect_url();
		$this->assertStringStartsWith( 'https://kompas.test/woocommerce/connect?', $url );
		$this->assertStringContainsString( 'site=' . rawurlencode( 'https://winkel.example' ), $url );
		$this->assertStringContainsString( 'return_url=' . rawurlencode( 'https://winkel.example/wp-admin/admin.php?page=kompas' ), $url );
	}

	public function test_a_panel_token_needs_a_connection() {
		$connection = new Kompas_Connection();
		$this->assertNull( $connection->panel_token( 1 ) );
		$connection->save( $this->data );
		$this->assertCount( 3, explode( '.', $connection->panel_token( 1 ) ) );
	}

	public function test_disconnect_tells_kompas_signed_and_removes_the_key_and_the_secrets() {
		$connection = new Kompas_Connection();
		$connection->save( $this->data );
		$this->assertTrue( $connection->disconnect() );
		$request = $GLOBALS['kompas_test']['requests'][0];
		$this->assertSame( 'https://kompas.test/woocommerce/disconnect', $request['url'] );
		$this->assertSame( Kompas_Token::sign( $request['args']['body'], 'wc-secret-AbC123xyz' ), $request['args']['headers']['X-Kompas-Signature'] );
		$this->assertSame( array( array( 'wp_woocommerce_api_keys', array( 'key_id' => 12 ) ) ), $GLOBALS['kompas_test']['deleted'] );
		$this->assertFalse( $connection->is_connected() );
		$this->assertSame( array(), $GLOBALS['kompas_test']['options'] );
	}

	public function test_disconnect_forgets_locally_even_when_kompas_is_unreachable() {
		$connection = new Kompas_Connection();
		$connection->save( $this->data );
		$GLOBALS['kompas_test']['response'] = new WP_Error( 'http_request_failed', 'timeout' );
		$this->assertFalse( $connection->disconnect() );
		$this->assertFalse( $connection->is_connected() );
	}
}
