<?php
/**
 * The connection between this store and Kompas.
 *
 * @package Kompas
 */

defined( 'ABSPATH' ) || exit;

/**
 * Holds what Kompas gave this store at connect, and connects and disconnects.
 *
 * Connect: the merchant's browser goes to Kompas, which sends it through WooCommerce's own key
 * granting screen (/wc-auth/v1/authorize). With the granted key Kompas calls this plugin's route
 * POST /wp-json/wc-kompas/v1/connection (WooCommerce authenticates the `wc-` namespaces with its
 * API keys) and hands over the per-shop secrets: the panel secret that signs panel tokens, and the
 * webhook secret that signs cart events. Secrets travel only from Kompas to the store itself.
 */
class Kompas_Connection {

	const OPTION         = 'kompas_connection';
	const REST_NAMESPACE = 'wc-kompas/v1';

	/**
	 * Hooks the REST route.
	 */
	public function register() {
		add_action( 'rest_api_init', array( $this, 'register_routes' ) );
	}

	/**
	 * POST and DELETE /wp-json/wc-kompas/v1/connection, for Kompas with the granted API key.
	 */
	public function register_routes() {
		register_rest_route(
			self::REST_NAMESPACE,
			'/connection',
			array(
				array(
					'methods'             => 'POST',
					'callback'            => array( $this, 'rest_store' ),
					'permission_callback' => array( $this, 'rest_permission' ),
				),
				array(
					'methods'             => 'DELETE',
					'callback'            => array( $this, 'rest_forget' ),
					'permission_callback' => array( $this, 'rest_permission' ),
				),
			)
		);
	}

	/**
	 * Only a user who may manage WooCommerce (the API key's owner) may change the connection.
	 *
	 * @return bool
	 */
	public function rest_permission() {
		return current_user_can( 'manage_woocommerce' );
	}

	/**
	 * Keeps the connection Kompas sends.
	 *
	 * @param WP_REST_Request $request The request.
	 * @return WP_REST_Response|WP_Error
	 */
	public function rest_store( $request ) {
		$data = $request->get_json_params();
		if ( ! is_array( $data ) ) {
			return new WP_Error( 'kompas_bad_request', 'send a JSON object', array( 'status' => 400 ) );
		}
		$saved = $this->save( $data );
		if ( is_wp_error( $saved ) ) {
			return $saved;
		}
		return new WP_REST_Response( array( 'connected' => true ), 200 );
	}

	/**
	 * Forgets the connection (Kompas disconnected this store).
	 *
	 * @return WP_REST_Response
	 */
	public function rest_forget() {
		$this->forget();
		return new WP_REST_Response( array( 'connected' => false ), 200 );
	}

	/**
	 * Validates and stores a connection.
	 *
	 * @param array $data {shop, panel_url, events_url, disconnect_url, panel_secret, webhook_secret, key_id}.
	 * @return true|WP_Error
	 */
	public function save( $data ) {
		$required = array( 'shop', 'panel_url', 'events_url', 'disconnect_url', 'panel_secret', 'webhook_secret' );
		foreach ( $required as $field ) {
			if ( empty( $data[ $field ] ) || ! is_string( $data[ $field ] ) ) {
				return new WP_Error( 'kompas_bad_request', 'missing ' . $field, array( 'status' => 400 ) );
			}
		}
		// Only URLs of the Kompas service: the panel is framed in wp-admin and events go there.
		foreach ( array( 'panel_url', 'events_url', 'disconnect_url' ) as $field ) {
			if ( 0 !== strpos( $data[ $field ], self::app_url() . '/' ) ) {
				return new WP_Error( 'kompas_bad_request', $field . ' is not a URL of ' . self::app_url(), array( 'status' => 400 ) );
			}
		}
		$connection = array(
			'shop'           => $data['shop'],
			'panel_url'      => esc_url_raw( $data['panel_url'] ),
			'events_url'     => esc_url_raw( $data['events_url'] ),
			'disconnect_url' => esc_url_raw( $data['disconnect_url'] ),
			'panel_secret'   => $data['panel_secret'],
			'webhook_secret' => $data['webhook_secret'],
			'key_id'         => isset( $data['key_id'] ) ? absint( $data['key_id'] ) : 0,
			'connected_at'   => time(),
		);
		update_option( self::OPTION, $connection, false );
		return true;
	}

	/**
	 * The stored connection, or null.
	 *
	 * @return array|null
	 */
	public function get() {
		$connection = get_option( self::OPTION );
		return is_array( $connection ) && ! empty( $connection['panel_secret'] ) ? $connection : null;
	}

	/**
	 * Whether Kompas is connected.
	 *
	 * @return bool
	 */
	public function is_connected() {
		return null !== $this->get();
	}

	/**
	 * This store's key in Kompas: the home URL without trailing slash, as WooCommerce's webhooks
	 * send it in X-WC-Webhook-Source.
	 *
	 * @return string
	 */
	public static function site() {
		return untrailingslashit( home_url( '/' ) );
	}

	/**
	 * The Kompas service's base URL.
	 *
	 * @return string
	 */
	public static function app_url() {
		/**
		 * Filters the Kompas service URL.
		 *
		 * @param string $url The URL, defaults to the KOMPAS_APP_URL constant.
		 */
		return untrailingslashit( apply_filters( 'kompas_app_url', KOMPAS_APP_URL ) );
	}

	/**
	 * Where the Connect button sends the merchant.
	 *
	 * @return string
	 */
	public function connect_url() {
		return add_query_arg(
			array(
				'site'       => rawurlencode( self::site() ),
				'return_url' => rawurlencode( admin_url( 'admin.php?page=kompas' ) ),
			),
			self::app_url() . '/woocommerce/connect'
		);
	}

	/**
	 * A panel token for the current user, or null when not connected.
	 *
	 * @param int $user_id The user.
	 * @return string|null
	 */
	public function panel_token( $user_id ) {
		$connection = $this->get();
		if ( null === $connection ) {
			return null;
		}
		return Kompas_Token::mint( self::site(), $user_id, $connection['panel_secret'], time() );
	}

	/**
	 * Disconnects: asks Kompas to remove its webhooks and keys, then removes the local side.
	 *
	 * @return bool Whether Kompas confirmed.
	 */
	public function disconnect() {
		$connection = $this->get();
		$confirmed  = false;
		if ( null !== $connection ) {
			$body     = wp_json_encode( array( 'site' => self::site() ) );
			$response = wp_remote_post(
				$connection['disconnect_url'],
				array(
					'timeout' => 20,
					'headers' => array(
						'Content-Type'       => 'application/json',
						'X-Kompas-Site'      => self::site(),
						'X-Kompas-Signature' => Kompas_Token::sign( $body, $connection['webhook_secret'] ),
					),
					'body'    => $body,
				)
			);
			$confirmed = ! is_wp_error( $response ) && 200 === (int) wp_remote_retrieve_response_code( $response );
		}
		$this->forget();
		return $confirmed;
	}

	/**
	 * Removes everything of the connection on this side: the API key WooCommerce granted Kompas,
	 * the webhooks that deliver to Kompas, and the stored secrets.
	 */
	public function forget() {
		global $wpdb;
		$connection = get_option( self::OPTION );
		if ( is_array( $connection ) ) {
			if ( ! empty( $connection['key_id'] ) ) {
				$wpdb->delete( $wpdb->prefix . 'woocommerce_api_keys', array( 'key_id' => absint( $connection['key_id'] ) ), array( '%d' ) ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			}
			if ( ! empty( $connection['events_url'] ) && class_exists( 'WC_Data_Store' ) ) {
				$store = WC_Data_Store::load( 'webhook' );
				foreach ( $store->get_webhooks_ids() as $webhook_id ) {
					$webhook = wc_get_webhook( $webhook_id );
					if ( $webhook && $webhook->get_delivery_url() === $connection['events_url'] ) {
						$webhook->delete( true );
					}
				}
			}
		}
		delete_option( self::OPTION );
	}
}
