<?php
/**
 * Cart events for cart abandonment.
 *
 * @package Kompas
 */

defined( 'ABSPATH' ) || exit;

/**
 * Reports cart created, changed and emptied events to Kompas, and ties the cart to its order.
 *
 * WooCommerce sends no cart webhooks. Each cart gets a random token, kept in the WooCommerce
 * session; the events carry that token, the cart's creation and change times and its item count,
 * and nothing about the shopper. At checkout the token is written to the order's meta
 * `_kompas_cart_token`, which Kompas reads from the order webhooks: a cart with an order is a
 * purchase, one without is abandoned.
 *
 * One event per request at most, signed like WooCommerce's own webhooks, sent at shutdown after
 * WooCommerce has saved the session (the cart and its token), never while the shopper waits:
 * under PHP-FPM after the page has been handed over; elsewhere (mod_php, LiteSpeed) through
 * WooCommerce's Action Scheduler, in a request of its own, or, without it, with a short timeout.
 */
class Kompas_Cart {

	const SESSION_TOKEN   = 'kompas_cart_token';
	const SESSION_CREATED = 'kompas_cart_created';
	const ORDER_META      = '_kompas_cart_token';
	const ASYNC_ACTION    = 'kompas_send_cart_event';
	const PAUSE           = 'kompas_cart_events_paused';
	const PAUSE_SECONDS   = 60;

	/**
	 * After WC_Session_Handler::save_data (shutdown, 20): the cart and its token are saved before
	 * the event goes, so the shopper's next request reads them.
	 */
	const SHUTDOWN_PRIORITY = 100;

	/**
	 * The connection.
	 *
	 * @var Kompas_Connection
	 */
	private $connection;

	/**
	 * The event waiting to be sent at shutdown: 'created', 'updated' or 'emptied'.
	 *
	 * @var string|null
	 */
	private $pending = null;

	/**
	 * The token of the pending event (an emptied cart's token is cleared from the session).
	 *
	 * @var string|null
	 */
	private $pending_token = null;

	/**
	 * When the pending event's cart was created (Unix time).
	 *
	 * @var int|null
	 */
	private $pending_created = null;

	/**
	 * Constructor.
	 *
	 * @param Kompas_Connection $connection The connection.
	 */
	public function __construct( $connection ) {
		$this->connection = $connection;
	}

	/**
	 * Hooks the cart and checkout events.
	 */
	public function register() {
		add_action( 'woocommerce_add_to_cart', array( $this, 'changed' ), 20, 0 );
		add_action( 'woocommerce_cart_item_removed', array( $this, 'changed' ), 20, 0 );
		add_action( 'woocommerce_cart_item_restored', array( $this, 'changed' ), 20, 0 );
		add_action( 'woocommerce_after_cart_item_quantity_update', array( $this, 'changed' ), 20, 0 );
		add_action( 'woocommerce_cart_item_set_quantity', array( $this, 'changed' ), 20, 0 );
		add_action( 'woocommerce_applied_coupon', array( $this, 'changed' ), 20, 0 );
		add_action( 'woocommerce_cart_emptied', array( $this, 'emptied' ), 20, 0 );
		add_action( 'woocommerce_checkout_create_order', array( $this, 'tag_order' ), 20, 1 );
		add_action( 'woocommerce_store_api_checkout_update_order_meta', array( $this, 'tag_order' ), 20, 1 );
		add_action( 'shutdown', array( $this, 'send' ), self::SHUTDOWN_PRIORITY, 0 );
		add_action( self::ASYNC_ACTION, array( $this, 'post' ), 10, 1 );
	}

	/**
	 * The current Unix time (a method, so that tests can stop the clock).
	 *
	 * @return int
	 */
	protected function now() {
		return time();
	}

	/**
	 * The WooCommerce session, or null (no session in this request, e.g. in wp-admin).
	 *
	 * @return WC_Session|null
	 */
	protected function session() {
		return function_exists( 'WC' ) && WC() && isset( WC()->session ) && WC()->session ? WC()->session : null;
	}

	/**
	 * Items in the cart.
	 *
	 * @return int
	 */
	protected function item_count() {
		return function_exists( 'WC' ) && WC() && isset( WC()->cart ) && WC()->cart ? (int) WC()->cart->get_cart_contents_count() : 0;
	}

	/**
	 * The cart changed (item added, removed, restored, quantity, coupon): starts a cart when
	 * there is none yet.
	 */
	public function changed() {
		$session = $this->session();
		if ( null === $session || ! $this->connection->is_connected() ) {
			return;
		}
		$token = $session->get( self::SESSION_TOKEN );
		if ( empty( $token ) ) {
			$token   = bin2hex( random_bytes( 16 ) );
			$created = $this->now();
			$session->set( self::SESSION_TOKEN, $token );
			$session->set( self::SESSION_CREATED, $created );
			$this->pending = 'created';
		} elseif ( 'created' !== $this->pending || $this->pending_token !== $token ) {
			$this->pending = 'updated';
		}
		$this->pending_token   = $token;
		$this->pending_created = (int) $session->get( self::SESSION_CREATED );
	}

	/**
	 * The cart was emptied (by the shopper, or after an order): its token is done with, and the
	 * next item starts a new cart.
	 */
	public function emptied() {
		$session = $this->session();
		if ( null === $session || ! $this->connection->is_connected() ) {
			return;
		}
		$token = $session->get( self::SESSION_TOKEN );
		if ( empty( $token ) ) {
			return;
		}
		$this->pending         = 'emptied';
		$this->pending_token   = $token;
		$this->pending_created = (int) $session->get( self::SESSION_CREATED );
		$session->set( self::SESSION_TOKEN, null );
		$session->set( self::SESSION_CREATED, null );
	}

	/**
	 * Writes the cart token to the order being placed.
	 *
	 * @param WC_Order $order The order.
	 */
	public function tag_order( $order ) {
		$session = $this->session();
		if ( null === $session || ! is_object( $order ) ) {
			return;
		}
		$token = $session->get( self::SESSION_TOKEN );
		if ( ! empty( $token ) ) {
			$order->update_meta_data( self::ORDER_META, $token );
			// Classic checkout saves the order after woocommerce_checkout_create_order; the Store
			// API hook gets an order that is already stored, so it is saved here.
			if ( doing_action( 'woocommerce_store_api_checkout_update_order_meta' ) ) {
				$order->save();
			}
		}
	}

	/**
	 * The body of the pending event, or null when there is none.
	 *
	 * @return array|null
	 */
	public function event() {
		if ( null === $this->pending || empty( $this->pending_token ) ) {
			return null;
		}
		$created = $this->pending_created ? $this->pending_created : $this->now();
		return array(
			'topic' => 'cart.' . $this->pending,
			'body'  => array(
				'token'      => $this->pending_token,
				'event'      => $this->pending,
				'created_at' => gmdate( 'Y-m-d\TH:i:s\Z', $created ),
				'updated_at' => gmdate( 'Y-m-d\TH:i:s\Z', max( $created, $this->now() ) ),
				'item_count' => 'emptied' === $this->pending ? 0 : $this->item_count(),
			),
		);
	}

	/**
	 * Sends the pending event to Kompas without holding up the shopper: after the page where
	 * PHP-FPM allows it, else through Action Scheduler (`post` runs in its own request), else
	 * with a timeout of one second.
	 *
	 * @return array|WP_Error|null The response, or null when nothing was sent in this request.
	 */
	public function send() {
		$event = $this->event();
		$this->pending = null;
		if ( null === $event || null === $this->connection->get() ) {
			return null;
		}
		if ( function_exists( 'fastcgi_finish_request' ) && doing_action( 'shutdown' ) ) {
			fastcgi_finish_request(); // The shopper has the page; the event is sent after it.
			return $this->post( $event );
		}
		if ( function_exists( 'as_enqueue_async_action' ) && as_enqueue_async_action( self::ASYNC_ACTION, array( $event ), 'kompas' ) ) {
			return null;
		}
		return $this->post( $event, 1 );
	}

	/**
	 * Posts one event to Kompas, signed with the shop's webhook secret, with the headers
	 * WooCommerce's own webhooks carry.
	 *
	 * @param array $event   The event (`event()`).
	 * @param int   $timeout Seconds to wait for Kompas.
	 * @return array|WP_Error|null The response, or null when the store is no longer connected.
	 */
	public function post( $event, $timeout = 5 ) {
		$connection = $this->connection->get();
		if ( null === $connection || ! is_array( $event ) || empty( $event['topic'] ) || empty( $event['body'] ) ) {
			return null;
		}
		// Kompas did not answer a moment ago: events are dropped for a minute instead of each
		// waiting for it (queued events would hold Action Scheduler's runner, which WooCommerce's
		// own webhooks share). A failed event is lost either way: nothing retries it.
		if ( get_transient( self::PAUSE ) ) {
			return null;
		}
		$body     = wp_json_encode( $event['body'] );
		$response = $this->request( $connection, $event, $body, $timeout );
		if ( is_wp_error( $response ) || (int) wp_remote_retrieve_response_code( $response ) >= 500 ) {
			set_transient( self::PAUSE, 1, self::PAUSE_SECONDS );
		}
		return $response;
	}

	/**
	 * The signed POST of one event.
	 *
	 * @param array  $connection The connection.
	 * @param array  $event      The event.
	 * @param string $body       Its JSON body.
	 * @param int    $timeout    Seconds to wait for Kompas.
	 * @return array|WP_Error
	 */
	private function request( $connection, $event, $body, $timeout ) {
		return wp_remote_post(
			$connection['events_url'],
			array(
				'timeout' => $timeout,
				'headers' => array(
					'Content-Type'             => 'application/json',
					'X-WC-Webhook-Source'      => trailingslashit( Kompas_Connection::site() ),
					'X-WC-Webhook-Topic'       => $event['topic'],
					'X-WC-Webhook-Resource'    => 'cart',
					'X-WC-Webhook-Event'       => $event['body']['event'],
					'X-WC-Webhook-Signature'   => Kompas_Token::sign( $body, $connection['webhook_secret'] ),
					'X-WC-Webhook-Delivery-ID' => bin2hex( random_bytes( 16 ) ),
				),
				'body'    => $body,
			)
		);
	}
}
