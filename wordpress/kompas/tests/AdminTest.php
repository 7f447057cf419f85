<?php
/**
 * The Kompas page under WooCommerce: menu, Connect, the panel iframe, fresh tokens.
 *
 * @package Kompas
 */

use PHPUnit\Framework\TestCase;

class AdminTest extends TestCase {

	private $connection;
	private $admin;

	protected function setUp(): void {
		kompas_test_reset();
		$this->connection = new Kompas_Connection();
		$this->admin      = new Kompas_Admin( $this->connection );
	}

	private function connect() {
		$this->connection->save( kompas_test_connection() );
	}

	private function render() {
		ob_start();
		$this->admin->render();
		return ob_get_clean();
	}

	public function test_the_page_is_a_woocommerce_submenu_for_shop_managers() {
		$this->admin->menu();
		$this->assertSame( 'woocommerce', $GLOBALS['kompas_test']['menu'][0]['parent'] );
		$this->assertSame( 'manage_woocommerce', $GLOBALS['kompas_test']['menu'][0]['capability'] );
		$this->assertSame( 'kompas', $GLOBALS['kompas_test']['menu'][0]['slug'] );
	}

	public function test_it_suggests_what_the_privacy_policy_should_say_about_kompas() {
		$this->admin->register();
		$hooked = array_filter( $GLOBALS['kompas_test']['actions'], function ( $a ) {
			return 'admin_init' === $a[0] && array( $this->admin, 'privacy_policy' ) === $a[1];
		} );
		$this->assertCount( 1, $hooked );
		$this->admin->privacy_policy();
		$this->assertCount( 1, $GLOBALS['kompas_test']['privacy'] );
		list( $name, $text ) = $GLOBALS['kompas_test']['privacy'][0];
		$this->assertSame( 'Kompas', $name );
		$this->assertStringContainsString( 'WooCommerce sends the order to Kompas', $text );
		$this->assertStringContainsString( 'IP address', $text );
		$this->assertStringContainsString( 'Kompas removes it from its copy too', $text );
		$this->assertStringContainsString( 'store&#039;s figures', $text );   // escaped once
	}

	public function test_not_connected_it_offers_connect() {
		$html = $this->render();
		$this->assertStringContainsString( 'Not connected', $html );
		$this->assertStringContainsString( 'href="https://kompas.test/woocommerce/connect?site=', $html );
		$this->assertStringNotContainsString( '<iframe', $html );
	}

	public function test_connected_it_frames_the_panel_with_a_token_for_the_user() {
		$this->connect();
		$html = $this->render();
		$this->assertStringContainsString( 'Connected since', $html );
		$this->assertStringContainsString( 'name="action" value="kompas_disconnect"', $html );
		$this->assertSame( 1, preg_match( '/<iframe id="kompas-panel"[^>]* src="([^"]+)"/', $html, $match ) );
		$src = html_entity_decode( $match[1] );
		$this->assertStringStartsWith( 'https://kompas.test/panel/?id_token=', $src );
		$this->assertStringEndsWith( '&lang=nl', $src );
		parse_str( parse_url( $src, PHP_URL_QUERY ), $query );
		$claims = json_decode( base64_decode( strtr( explode( '.', $query['id_token'] )[1], '-_', '+/' ) ), true );
		$this->assertSame( '7', $claims['sub'] );
		$bridge = $GLOBALS['kompas_test']['scripts']['kompas-admin'];
		$this->assertStringEndsWith( 'assets/kompas-admin.js', $bridge['src'] );
		$this->assertStringContainsString( '"origin":"https:\/\/kompas.test"', $bridge['inline'] );
	}

	public function test_only_shop_managers_see_the_page() {
		$GLOBALS['kompas_test']['caps'] = array();
		$this->expectException( RuntimeException::class );
		$this->admin->render(); // refused before any output
	}

	public function test_a_fresh_token_needs_the_nonce_the_capability_and_a_connection() {
		$this->connect();
		$_POST['_ajax_nonce'] = 'nonce-kompas_token';
		try {
			$this->admin->ajax_token();
			$this->fail( 'no answer' );
		} catch ( Kompas_Test_Json_Sent $sent ) {
			$this->assertTrue( $sent->success );
			$this->assertCount( 3, explode( '.', $sent->data['token'] ) );
		}
		$_POST['_ajax_nonce'] = 'forged';
		try {
			$this->admin->ajax_token();
			$this->fail( 'no answer' );
		} catch ( Kompas_Test_Json_Sent $sent ) {
			$this->assertFalse( $sent->success );
			$this->assertSame( 403, $sent->status );
		}
		$_POST['_ajax_nonce']          = 'nonce-kompas_token';
		$GLOBALS['kompas_test']['caps'] = array();
		try {
			$this->admin->ajax_token();
			$this->fail( 'no answer' );
		} catch ( Kompas_Test_Json_Sent $sent ) {
			$this->assertSame( 403, $sent->status );
		}
	}
}
