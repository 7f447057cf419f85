<?php
/**
 * Uninstalling leaves nothing behind.
 *
 * @package Kompas
 */

use PHPUnit\Framework\TestCase;

class UninstallTest extends TestCase {

	public function test_uninstall_tells_kompas_and_removes_the_key_and_every_option() {
		kompas_test_reset();
		( new Kompas_Connection() )->save( kompas_test_connection() );
		if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
			define( 'WP_UNINSTALL_PLUGIN', 'kompas/kompas.php' );
		}
		require dirname( __DIR__ ) . '/uninstall.php';
		$this->assertSame( array(), $GLOBALS['kompas_test']['options'] );
		$this->assertSame( 'https://kompas.test/woocommerce/disconnect', $GLOBALS['kompas_test']['requests'][0]['url'] );
		$this->assertSame( array( array( 'wp_woocommerce_api_keys', array( 'key_id' => 12 ) ) ), $GLOBALS['kompas_test']['deleted'] );
	}

	/**
	 * Cart events still queued in Action Scheduler go with the plugin: nothing would handle them,
	 * and each would be logged as failed in WooCommerce > Status > Scheduled Actions.
	 */
	public function test_uninstall_takes_the_queued_cart_events_out_of_action_scheduler() {
		kompas_test_reset();
		$connection = new Kompas_Connection();
		$connection->save( kompas_test_connection() );
		$GLOBALS['kompas_test']['scheduler'] = true;
		$cart = new Kompas_Cart( $connection );
		$cart->changed();
		$this->assertNull( $cart->send() );
		$this->assertCount( 1, $GLOBALS['kompas_test']['async'] );   // queued, not yet run
		set_transient( Kompas_Cart::PAUSE, 1, Kompas_Cart::PAUSE_SECONDS );
		if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
			define( 'WP_UNINSTALL_PLUGIN', 'kompas/kompas.php' );
		}
		require dirname( __DIR__ ) . '/uninstall.php';
		$this->assertSame( array(), array_values( $GLOBALS['kompas_test']['async'] ) );
		$this->assertSame( array(), $GLOBALS['kompas_test']['transients'] );
	}

	/**
	 * On a network, WordPress runs uninstall.php once, on the main site: every site's store is
	 * told and loses its key and webhooks, not only the main site's. (Before, the other sites kept
	 * Kompas's API key and secrets.)
	 */
	public function test_uninstall_on_a_network_cleans_every_site() {
		kompas_test_reset();
		$second                                         = kompas_test_connection();
		$second['key_id']                               = 13;
		$second['disconnect_url']                       = 'https://kompas.test/woocommerce/disconnect?site=2';
		$GLOBALS['kompas_test']['sites']                = array( 1 => array(), 2 => array(), 3 => array() );
		$GLOBALS['kompas_test']['sites'][2]             = array( Kompas_Connection::OPTION => $second );
		( new Kompas_Connection() )->save( kompas_test_connection() );   // the main site (1)
		if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
			define( 'WP_UNINSTALL_PLUGIN', 'kompas/kompas.php' );
		}
		require dirname( __DIR__ ) . '/uninstall.php';
		$this->assertSame( 1, $GLOBALS['kompas_test']['blog'] );        // back on the main site
		$this->assertSame( array(), $GLOBALS['kompas_test']['options'] );
		$this->assertSame( array(), $GLOBALS['kompas_test']['sites'][2] );
		$this->assertSame(
			array( 'https://kompas.test/woocommerce/disconnect', 'https://kompas.test/woocommerce/disconnect?site=2' ),
			array_column( $GLOBALS['kompas_test']['requests'], 'url' )
		);
		$this->assertSame(
			array( array( 'wp_woocommerce_api_keys', array( 'key_id' => 12 ) ), array( 'wp_2_woocommerce_api_keys', array( 'key_id' => 13 ) ) ),
			$GLOBALS['kompas_test']['deleted']
		);
	}
}
