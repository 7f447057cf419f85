<?php
/**
 * Cart hooks: tokens, events, signatures, the order meta.
 *
 * @package Kompas
 */

use PHPUnit\Framework\TestCase;

/** A cart whose clock the test sets. */
class Kompas_Test_Clocked_Cart extends Kompas_Cart {
	public $clock = 1700000000;
	protected function now() {
		return $this->clock;
	}
}

class CartTest extends TestCase {

	private $connection;

	protected function setUp(): void {
		kompas_test_reset();
		$this->connection = new Kompas_Connection();
		$this->connection->save( kompas_test_connection() );
	}

	private function cart( $clock = 1700000000 ) {
		$cart        = new Kompas_Test_Clocked_Cart( $this->connection );
		$cart->clock = $clock;
		return $cart;
	}

	private function sent() {
		$requests = $GLOBALS['kompas_test']['requests'];
		$this->assertCount( 1, $requests );
		$GLOBALS['kompas_test']['requests'] = array();
		return $requests[0];
	}

	public function test_the_hooks_are_registered() {
		$this->cart()->register();
		$hooks = array_column( $GLOBALS['kompas_test']['actions'], 0 );
		foreach ( array( 'woocommerce_add_to_cart', 'woocommerce_cart_item_removed', 'woocommerce_after_cart_item_quantity_update', 'woocommerce_cart_emptied', 'woocommerce_checkout_create_order', 'woocommerce_store_api_checkout_update_order_meta', 'shutdown' ) as $hook ) {
			$this->assertContains( $hook, $hooks );
		}
	}

	public function test_the_first_item_creates_a_cart_and_sends_a_signed_event() {
		WC()->cart->count = 2;
		$cart             = $this->cart();
		$cart->changed();
		$token = WC()->session->get( Kompas_Cart::SESSION_TOKEN );
		$this->assertMatchesRegularExpression( '/^[0-9a-f]{32}$/', $token );
		$cart->send();
		$request = $this->sent();
		$this->assertSame( 'https://kompas.test/webhooks/woocommerce', $request['url'] );
		$headers = $request['args']['headers'];
		$this->assertSame( 'cart.created', $headers['X-WC-Webhook-Topic'] );
		$this->assertSame( 'https://winkel.example/', $headers['X-WC-Webhook-Source'] );
		$this->assertSame( base64_encode( hash_hmac( 'sha256', $request['args']['body'], 'wc-secret-AbC123xyz', true ) ), $headers['X-WC-Webhook-Signature'] );
		$this->assertSame(
			array(
				'token'      => $token,
				'event'      => 'created',
				'created_at' => '2023-11-14T22:13:20Z',
				'updated_at' => '2023-11-14T22:13:20Z',
				'item_count' => 2,
			),
			json_decode( $request['args']['body'], true )
		);
	}

	public function test_no_personal_data_is_sent() {
		$cart = $this->cart();
		$cart->changed();
		$cart->send();
		$body = json_decode( $this->sent()['args']['body'], true );
		$this->assertSame( array( 'token', 'event', 'created_at', 'updated_at', 'item_count' ), array_keys( $body ) );
	}

	public function test_later_changes_keep_the_token_and_the_creation_time() {
		$cart = $this->cart();
		$cart->changed();
		$cart->send();
		$first = json_decode( $this->sent()['args']['body'], true );
		$next  = $this->cart( 1700000500 ); // a later request of the same session
		$next->changed();
		$next->changed(); // several hooks in one request: one event
		$next->send();
		$body = json_decode( $this->sent()['args']['body'], true );
		$this->assertSame( 'updated', $body['event'] );
		$this->assertSame( $first['token'], $body['token'] );
		$this->assertSame( $first['created_at'], $body['created_at'] );
		$this->assertSame( '2023-11-14T22:21:40Z', $body['updated_at'] );
	}

	public function test_emptying_ends_the_cart_and_the_next_item_starts_another() {
		$cart = $this->cart();
		$cart->changed();
		$cart->send();
		$first = json_decode( $this->sent()['args']['body'], true );
		$empty = $this->cart( 1700000100 );
		$empty->emptied();
		$empty->send();
		$request = $this->sent();
		$this->assertSame( 'cart.emptied', $request['args']['headers']['X-WC-Webhook-Topic'] );
		$this->assertSame( $first['token'], json_decode( $request['args']['body'], true )['token'] );
		$this->assertNull( WC()->session->get( Kompas_Cart::SESSION_TOKEN ) );
		$again = $this->cart( 1700000200 );
		$again->changed();
		$again->send();
		$body = json_decode( $this->sent()['args']['body'], true );
		$this->assertSame( 'created', $body['event'] );
		$this->assertNotSame( $first['token'], $body['token'] );
	}

	public function test_emptying_without_a_cart_sends_nothing() {
		$cart = $this->cart();
		$cart->emptied();
		$this->assertNull( $cart->send() );
		$this->assertSame( array(), $GLOBALS['kompas_test']['requests'] );
	}

	public function test_checkout_writes_the_token_to_the_order() {
		$cart = $this->cart();
		$cart->changed();
		$order = new Kompas_Test_Order();
		$cart->tag_order( $order );
		$this->assertSame( WC()->session->get( Kompas_Cart::SESSION_TOKEN ), $order->meta['_kompas_cart_token'] );
		$this->assertSame( 0, $order->saved ); // classic checkout saves the order itself
		$GLOBALS['kompas_test']['doing'] = 'woocommerce_store_api_checkout_update_order_meta';
		$cart->tag_order( $order );
		$this->assertSame( 1, $order->saved );
	}

	public function test_nothing_is_tracked_while_not_connected() {
		$this->connection->forget();
		$cart = $this->cart();
		$cart->changed();
		$this->assertNull( WC()->session->get( Kompas_Cart::SESSION_TOKEN ) );
		$this->assertNull( $cart->send() );
		$this->assertSame( array(), $GLOBALS['kompas_test']['requests'] );
	}

	/**
	 * WooCommerce saves the session (the cart, and the token `changed()` just put in it) at
	 * shutdown, priority 20 (WC_Session_Handler), hooked at `init`: Kompas's event goes after it,
	 * or the shopper's next request could read the old session and overwrite the added item.
	 */
	public function test_the_cart_event_is_sent_after_woocommerce_has_saved_the_session() {
		$this->cart()->register();
		$shutdown = array_values(
			array_filter(
				$GLOBALS['kompas_test']['actions'],
				function ( $action ) {
					return 'shutdown' === $action[0];
				}
			)
		);
		$this->assertCount( 1, $shutdown );
		$this->assertGreaterThan( 20, $shutdown[0][2] );
	}

	/**
	 * Without PHP-FPM (mod_php, LiteSpeed) the shopper's request would wait for Kompas: the event
	 * goes to Action Scheduler, which posts it in a request of its own, signed as before.
	 */
	public function test_without_php_fpm_the_event_goes_through_action_scheduler() {
		$GLOBALS['kompas_test']['scheduler'] = true;
		$cart = $this->cart();
		$cart->register();
		$cart->changed();
		$this->assertNull( $cart->send() );
		$this->assertSame( array(), $GLOBALS['kompas_test']['requests'] );
		$this->assertCount( 1, $GLOBALS['kompas_test']['async'] );
		list( $hook, $args, $group ) = $GLOBALS['kompas_test']['async'][0];
		$this->assertSame( array( Kompas_Cart::ASYNC_ACTION, 'kompas' ), array( $hook, $group ) );
		$this->assertContains( array( Kompas_Cart::ASYNC_ACTION, array( $cart, 'post' ), 10, 1 ), $GLOBALS['kompas_test']['actions'] );
		$cart->post( $args[0] );   // what Action Scheduler runs
		$request = $this->sent();
		$this->assertSame( 5, $request['args']['timeout'] );
		$this->assertSame( 'cart.created', $request['args']['headers']['X-WC-Webhook-Topic'] );
		$this->assertSame( base64_encode( hash_hmac( 'sha256', $request['args']['body'], 'wc-secret-AbC123xyz', true ) ), $request['args']['headers']['X-WC-Webhook-Signature'] );
	}

	/**
	 * Without PHP-FPM and without a working Action Scheduler, the shopper waits one second at most.
	 */
	public function test_without_php_fpm_or_action_scheduler_the_shopper_waits_a_second_at_most() {
		$cart = $this->cart();
		$cart->changed();
		$cart->send();
		$this->assertSame( 1, $this->sent()['args']['timeout'] );
	}

	/**
	 * Kompas unreachable: one event waits for it, the next ones for a minute do not (queued events
	 * would otherwise each hold Action Scheduler's runner, which WooCommerce's webhooks share).
	 */
	public function test_after_kompas_did_not_answer_events_pause_for_a_minute() {
		$GLOBALS['kompas_test']['response'] = new WP_Error( 'http_request_failed', 'cURL error 28: timed out' );
		$cart = $this->cart();
		$cart->changed();
		$cart->send();
		$this->sent();
		$this->assertSame( array( 1, 60 ), $GLOBALS['kompas_test']['transients'][ Kompas_Cart::PAUSE ] );
		$cart->changed();
		$this->assertNull( $cart->send() );
		$this->assertSame( array(), $GLOBALS['kompas_test']['requests'] );
		unset( $GLOBALS['kompas_test']['transients'][ Kompas_Cart::PAUSE ] );   // the minute has passed
		$GLOBALS['kompas_test']['response'] = array( 'response' => array( 'code' => 200 ), 'body' => '{}' );
		$cart->changed();
		$cart->send();
		$this->sent();
		$this->assertArrayNotHasKey( Kompas_Cart::PAUSE, $GLOBALS['kompas_test']['transients'] );
	}
}
