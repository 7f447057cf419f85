<?php
/**
 * The Kompas page under WooCommerce.
 *
 * @package Kompas
 */

defined( 'ABSPATH' ) || exit;

/**
 * WooCommerce → Kompas: the connection status, Connect and Disconnect, and the panel in an iframe.
 *
 * The iframe's URL carries a panel token minted here for the logged-in user (valid for a minute).
 * The panel asks this page for a fresh token with postMessage when it needs one;
 * assets/kompas-admin.js fetches it from admin-ajax.php (nonce and capability checked) and
 * answers only the Kompas origin.
 */
class Kompas_Admin {

	const CAPABILITY = 'manage_woocommerce';
	const SLUG       = 'kompas';

	/**
	 * The connection.
	 *
	 * @var Kompas_Connection
	 */
	private $connection;

	/**
	 * Constructor.
	 *
	 * @param Kompas_Connection $connection The connection.
	 */
	public function __construct( $connection ) {
		$this->connection = $connection;
	}

	/**
	 * Hooks the menu, the disconnect form and the token endpoint.
	 */
	public function register() {
		add_action( 'admin_menu', array( $this, 'menu' ), 60 );
		add_action( 'admin_post_kompas_disconnect', array( $this, 'handle_disconnect' ) );
		add_action( 'wp_ajax_kompas_token', array( $this, 'ajax_token' ) );
		add_action( 'admin_init', array( $this, 'privacy_policy' ) );
	}

	/**
	 * Suggests a section for the store's privacy policy (Settings → Privacy → Policy Guide): what
	 * Kompas receives of a customer and what it keeps.
	 */
	public function privacy_policy() {
		if ( ! function_exists( 'wp_add_privacy_policy_content' ) ) {
			return;
		}
		$paragraphs = array(
			__( 'This store uses Kompas to count its sales figures. When you place an order, WooCommerce sends the order to Kompas, with the details you enter at checkout (name, addresses, e-mail address, phone number) and your IP address.', 'kompas' ),
			__( 'Kompas keeps these copies of orders to count and recount the store\'s figures; the figures themselves hold no names or e-mail addresses. Your cart is counted with a random code, without any details about you.', 'kompas' ),
			__( 'When the store removes your personal data from an order, Kompas removes it from its copy too.', 'kompas' ),
		);
		$content = '';
		foreach ( $paragraphs as $paragraph ) {
			$content .= '<p class="privacy-policy-tutorial">' . esc_html( $paragraph ) . '</p>';
		}
		wp_add_privacy_policy_content( __( 'Kompas', 'kompas' ), wp_kses_post( $content ) );
	}

	/**
	 * Adds the submenu under WooCommerce.
	 */
	public function menu() {
		add_submenu_page(
			'woocommerce',
			__( 'Kompas', 'kompas' ),
			__( 'Kompas', 'kompas' ),
			self::CAPABILITY,
			self::SLUG,
			array( $this, 'render' )
		);
	}

	/**
	 * The page: status and actions, and the panel when connected.
	 */
	public function render() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'You are not allowed to view Kompas.', 'kompas' ) );
		}
		$connection = $this->connection->get();
		echo '<div class="wrap kompas">';
		echo '<h1>' . esc_html__( 'Kompas', 'kompas' ) . '</h1>';
		$this->notices();
		if ( null === $connection ) {
			echo '<p>' . esc_html__( 'Kompas counts your sales, orders, returns, refunds, customers and abandoned carts, and shows them here.', 'kompas' ) . '</p>';
			echo '<p><strong>' . esc_html__( 'Status:', 'kompas' ) . '</strong> ' . esc_html__( 'Not connected', 'kompas' ) . '</p>';
			printf(
				'<p><a class="button button-primary" href="%1$s">%2$s</a></p><p class="description">%3$s</p>',
				esc_url( $this->connection->connect_url() ),
				esc_html__( 'Connect', 'kompas' ),
				esc_html__( 'You will be asked to give Kompas read and write access to WooCommerce. Kompas reads your orders and creates the webhooks that keep it up to date. It keeps the orders as WooCommerce sends them, customer details included, in order to count them; its figures hold no names or e-mail addresses. When WooCommerce removes the personal data from an order, Kompas removes it from its copy too.', 'kompas' )
			);
			echo '</div>';
			return;
		}
		$token = $this->connection->panel_token( get_current_user_id() );
		$src   = add_query_arg(
			array(
				'id_token' => $token,
				'lang'     => 0 === strpos( get_user_locale(), 'nl' ) ? 'nl' : 'en',
			),
			$connection['panel_url']
		);
		echo '<p><strong>' . esc_html__( 'Status:', 'kompas' ) . '</strong> ';
		/* translators: %s: date and time of connecting */
		printf( esc_html__( 'Connected since %s', 'kompas' ), esc_html( wp_date( get_option( 'date_format' ) . ' ' . get_option( 'time_format' ), (int) $connection['connected_at'] ) ) );
		echo '</p>';
		printf( '<form method="post" action="%s" class="kompas-disconnect">', esc_url( admin_url( 'admin-post.php' ) ) );
		echo '<input type="hidden" name="action" value="kompas_disconnect">';
		wp_nonce_field( 'kompas_disconnect' );
		printf(
			'<button type="submit" class="button" onclick="return confirm(%1$s);">%2$s</button>',
			esc_attr( wp_json_encode( __( 'Disconnect Kompas? Its webhooks and API key are removed; your figures stay in Kompas until you connect again.', 'kompas' ) ) ),
			esc_html__( 'Disconnect', 'kompas' )
		);
		echo '</form>';
		printf(
			'<iframe id="kompas-panel" title="%1$s" src="%2$s" style="width:100%%;min-height:80vh;border:0;margin-top:12px;background:#fff" referrerpolicy="no-referrer"></iframe>',
			esc_attr__( 'Kompas panel', 'kompas' ),
			esc_url( $src )
		);
		$this->bridge_script( $connection['panel_url'] );
		echo '</div>';
	}

	/**
	 * Notices after returning from the connect and disconnect flows.
	 */
	private function notices() {
		// phpcs:disable WordPress.Security.NonceVerification.Recommended -- display only.
		if ( isset( $_GET['success'] ) && '0' === $_GET['success'] ) {
			echo '<div class="notice notice-warning"><p>' . esc_html__( 'Kompas was not given access, so it is not connected.', 'kompas' ) . '</p></div>';
		} elseif ( isset( $_GET['success'] ) && '1' === $_GET['success'] && ! $this->connection->is_connected() ) {
			echo '<div class="notice notice-error"><p>' . esc_html__( 'Access was granted, but Kompas could not finish connecting. Please try again.', 'kompas' ) . '</p></div>';
		} elseif ( isset( $_GET['kompas-disconnected'] ) ) {
			$message = '1' === $_GET['kompas-disconnected']
				? __( 'Kompas is disconnected.', 'kompas' )
				: __( 'Kompas is disconnected here, but the Kompas service could not be reached to confirm it.', 'kompas' );
			echo '<div class="notice notice-success"><p>' . esc_html( $message ) . '</p></div>';
		}
		// phpcs:enable
	}

	/**
	 * Loads assets/kompas-admin.js, which answers the panel's requests for a fresh token (from the
	 * Kompas origin only).
	 *
	 * @param string $panel_url The panel's URL.
	 */
	private function bridge_script( $panel_url ) {
		$parts  = wp_parse_url( $panel_url );
		$config = array(
			'origin' => $parts['scheme'] . '://' . $parts['host'] . ( isset( $parts['port'] ) ? ':' . $parts['port'] : '' ),
			'ajax'   => admin_url( 'admin-ajax.php' ),
			'nonce'  => wp_create_nonce( 'kompas_token' ),
		);
		wp_enqueue_script( 'kompas-admin', plugins_url( 'assets/kompas-admin.js', KOMPAS_PLUGIN_FILE ), array(), KOMPAS_VERSION, true );
		wp_add_inline_script( 'kompas-admin', 'window.kompasBridge = ' . wp_json_encode( $config ) . ';', 'before' );
	}

	/**
	 * Admin-ajax: a fresh panel token for the current user.
	 */
	public function ajax_token() {
		check_ajax_referer( 'kompas_token' );
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_send_json_error( null, 403 );
		}
		$token = $this->connection->panel_token( get_current_user_id() );
		if ( null === $token ) {
			wp_send_json_error( null, 409 );
		}
		wp_send_json_success( array( 'token' => $token ) );
	}

	/**
	 * The Disconnect button.
	 */
	public function handle_disconnect() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'You are not allowed to disconnect Kompas.', 'kompas' ), 403 );
		}
		check_admin_referer( 'kompas_disconnect' );
		$confirmed = $this->connection->disconnect();
		wp_safe_redirect( add_query_arg( 'kompas-disconnected', $confirmed ? '1' : '0', admin_url( 'admin.php?page=' . self::SLUG ) ) );
		exit;
	}
}
