<?php
/**
 * PHPUnit bootstrap: the few WordPress and WooCommerce functions the plugin's classes call,
 * as small in-memory stubs, so the classes are tested without a WordPress install.
 *
 * @package Kompas
 */

// phpcs:disable -- test stubs mirror WordPress's own names and signatures.

define( 'ABSPATH', __DIR__ . '/' );
define( 'KOMPAS_APP_URL', 'https://kompas.test' );
define( 'KOMPAS_PLUGIN_FILE', dirname( __DIR__ ) . '/kompas.php' );
define( 'KOMPAS_VERSION', '0.1.0' );

$GLOBALS['kompas_test'] = array();

/** What Kompas gives the plugin at connect, as the tests' connected store holds it. */
function kompas_test_connection() {
	return array(
		'shop'           => 'https://winkel.example',
		'panel_url'      => 'https://kompas.test/panel/',
		'events_url'     => 'https://kompas.test/webhooks/woocommerce',
		'disconnect_url' => 'https://kompas.test/woocommerce/disconnect',
		'panel_secret'   => 'panel-secret',
		'webhook_secret' => 'wc-secret-AbC123xyz',
		'key_id'         => 12,
	);
}

/** Resets the stubs' state between tests. */
function kompas_test_reset() {
	$GLOBALS['kompas_test'] = array(
		'options'  => array(),
		'actions'  => array(),
		'requests' => array(),
		'doing'    => null,
		'caps'     => array( 'manage_woocommerce' => true ),
		'home'     => 'https://winkel.example/',
		'response' => array( 'response' => array( 'code' => 200 ), 'body' => '{}' ),
		'deleted'  => array(),
		'user'     => 7,
		'locale'   => 'nl_NL',
		'scripts'  => array(),
		'menu'     => array(),
		'filters'  => array(),
		'webhooks' => array(),
		'orders'   => array(),
		'scheduler' => false,
		'async'    => array(),
		'transients' => array(),
		'privacy'  => array(),
		'blog'     => 1,
		'stack'    => array(),
	);
	$_POST = array();
	$_GET  = array();
	$GLOBALS['kompas_wc'] = new Kompas_Test_WC();
}

class WP_Error {
	public $code;
	public $message;
	public $data;
	public function __construct( $code = '', $message = '', $data = '' ) {
		$this->code    = $code;
		$this->message = $message;
		$this->data    = $data;
	}
	public function get_error_data() {
		return $this->data;
	}
}

class WP_REST_Response {
	public $data;
	public $status;
	public function __construct( $data = null, $status = 200 ) {
		$this->data   = $data;
		$this->status = $status;
	}
}

class Kompas_Test_Request {
	private $json;
	public function __construct( $json ) {
		$this->json = $json;
	}
	public function get_json_params() {
		return $this->json;
	}
}

class Kompas_Test_Session {
	public $data = array();
	public function get( $key, $default = null ) {
		return array_key_exists( $key, $this->data ) ? $this->data[ $key ] : $default;
	}
	public function set( $key, $value ) {
		$this->data[ $key ] = $value;
	}
}

class Kompas_Test_Cart_Contents {
	public $count = 0;
	public function get_cart_contents_count() {
		return $this->count;
	}
}

class Kompas_Test_WC {
	public $session;
	public $cart;
	public function __construct() {
		$this->session = new Kompas_Test_Session();
		$this->cart    = new Kompas_Test_Cart_Contents();
	}
}

class Kompas_Test_Order {
	public $meta  = array();
	public $saved = 0;
	public function update_meta_data( $key, $value ) {
		$this->meta[ $key ] = $value;
	}
	public function save() {
		$this->saved++;
	}
}

function WC() {
	return $GLOBALS['kompas_wc'];
}
function wp_add_privacy_policy_content( $plugin_name, $policy_text ) {
	$GLOBALS['kompas_test']['privacy'][] = array( $plugin_name, $policy_text );
}
function wp_kses_post( $data ) {
	return $data;
}
function add_action( $hook, $callback, $priority = 10, $args = 1 ) {
	$GLOBALS['kompas_test']['actions'][] = array( $hook, $callback, $priority, $args );
}
function doing_action( $hook ) {
	return $GLOBALS['kompas_test']['doing'] === $hook;
}
function apply_filters( $hook, $value ) {
	return $value;
}
function add_filter( $hook, $callback, $priority = 10, $args = 1 ) {
	$GLOBALS['kompas_test']['filters'][] = array( $hook, $callback, $priority, $args );
}

/** A webhook of the store: where it delivers. */
class Kompas_Test_Webhook {
	private $url;
	public function __construct( $url ) {
		$this->url = $url;
	}
	public function get_delivery_url() {
		return $this->url;
	}
}
function wc_get_webhook( $id ) {
	return $GLOBALS['kompas_test']['webhooks'][ $id ] ?? null;
}

/** An order of the store, as wc_get_order gives it: its status and last change. */
class Kompas_Test_Stored_Order {
	private $status;
	private $modified;
	public function __construct( $status, $modified ) {
		$this->status   = $status;
		$this->modified = $modified;
	}
	public function get_status() {
		return $this->status;
	}
	public function get_date_modified() {
		return null === $this->modified ? null : new DateTime( '@' . $this->modified );
	}
	public $saved = 0;
	public function set_date_modified( $timestamp ) {
		$this->modified = $timestamp;
	}
	public function save() {
		$this->saved++;
	}
}
function wc_get_order( $id ) {
	return $GLOBALS['kompas_test']['orders'][ $id ] ?? false;
}
function home_url( $path = '' ) {
	return rtrim( $GLOBALS['kompas_test']['home'], '/' ) . '/' . ltrim( $path, '/' );
}
function admin_url( $path = '' ) {
	return 'https://winkel.example/wp-admin/' . ltrim( $path, '/' );
}
function untrailingslashit( $value ) {
	return rtrim( $value, '/\\' );
}
function trailingslashit( $value ) {
	return untrailingslashit( $value ) . '/';
}
function wp_json_encode( $data ) {
	return json_encode( $data );
}
function esc_url_raw( $url ) {
	return $url;
}
function absint( $value ) {
	return abs( (int) $value );
}
function is_wp_error( $thing ) {
	return $thing instanceof WP_Error;
}
function add_query_arg( $args, $url ) {
	return $url . ( false === strpos( $url, '?' ) ? '?' : '&' ) . implode( '&', array_map( function ( $k, $v ) { return $k . '=' . $v; }, array_keys( $args ), $args ) );
}
function current_user_can( $capability ) {
	return ! empty( $GLOBALS['kompas_test']['caps'][ $capability ] );
}
function get_option( $name, $default = false ) {
	return array_key_exists( $name, $GLOBALS['kompas_test']['options'] ) ? $GLOBALS['kompas_test']['options'][ $name ] : $default;
}
function update_option( $name, $value, $autoload = null ) {
	$GLOBALS['kompas_test']['options'][ $name ] = $value;
	return true;
}
function delete_option( $name ) {
	unset( $GLOBALS['kompas_test']['options'][ $name ] );
	return true;
}
// WooCommerce's Action Scheduler: records the action and returns its id, or 0 (as when it cannot
// store it) unless a test turns it on.
function as_enqueue_async_action( $hook, $args = array(), $group = '' ) {
	if ( empty( $GLOBALS['kompas_test']['scheduler'] ) ) {
		return 0;
	}
	$GLOBALS['kompas_test']['async'][] = array( $hook, $args, $group );
	return count( $GLOBALS['kompas_test']['async'] );
}
function as_unschedule_all_actions( $hook, $args = array(), $group = '' ) {
	foreach ( $GLOBALS['kompas_test']['async'] as $i => $action ) {
		if ( ( '' === $hook || $action[0] === $hook ) && ( '' === $group || $action[2] === $group ) ) {
			unset( $GLOBALS['kompas_test']['async'][ $i ] );
		}
	}
}
function get_transient( $name ) {
	return isset( $GLOBALS['kompas_test']['transients'][ $name ] ) ? $GLOBALS['kompas_test']['transients'][ $name ][0] : false;
}
function set_transient( $name, $value, $expiration = 0 ) {
	$GLOBALS['kompas_test']['transients'][ $name ] = array( $value, $expiration );
	return true;
}
function delete_transient( $name ) {
	unset( $GLOBALS['kompas_test']['transients'][ $name ] );
	return true;
}
function wp_remote_post( $url, $args ) {
	$GLOBALS['kompas_test']['requests'][] = array( 'url' => $url, 'args' => $args );
	return $GLOBALS['kompas_test']['response'];
}
function wp_remote_retrieve_response_code( $response ) {
	return $response['response']['code'];
}

// wp-admin rendering and AJAX.
class Kompas_Test_Json_Sent extends Exception {
	public $success;
	public $data;
	public $status;
	public function __construct( $success, $data, $status ) {
		parent::__construct( 'json sent' );
		$this->success = $success;
		$this->data    = $data;
		$this->status  = $status;
	}
}
function __( $text, $domain = 'default' ) {
	return $text;
}
function esc_html__( $text, $domain = 'default' ) {
	return htmlspecialchars( $text, ENT_QUOTES );
}
function esc_attr__( $text, $domain = 'default' ) {
	return htmlspecialchars( $text, ENT_QUOTES );
}
function esc_html( $text ) {
	return htmlspecialchars( $text, ENT_QUOTES );
}
function esc_attr( $text ) {
	return htmlspecialchars( $text, ENT_QUOTES );
}
function esc_url( $url ) {
	return htmlspecialchars( $url, ENT_QUOTES );
}
function wp_die( $message = '', $status = 500 ) {
	throw new RuntimeException( (string) $message );
}
function get_current_user_id() {
	return $GLOBALS['kompas_test']['user'];
}
function get_user_locale() {
	return $GLOBALS['kompas_test']['locale'];
}
function wp_date( $format, $timestamp ) {
	return gmdate( 'Y-m-d H:i', $timestamp );
}
function wp_nonce_field( $action ) {
	echo '<input type="hidden" name="_wpnonce" value="nonce-' . $action . '">';
}
function wp_create_nonce( $action ) {
	return 'nonce-' . $action;
}
function check_ajax_referer( $action ) {
	if ( ! isset( $_POST['_ajax_nonce'] ) || 'nonce-' . $action !== $_POST['_ajax_nonce'] ) {
		throw new Kompas_Test_Json_Sent( false, '-1', 403 );
	}
	return 1;
}
function wp_parse_url( $url ) {
	return parse_url( $url );
}
function plugins_url( $path, $file ) {
	return 'https://winkel.example/wp-content/plugins/kompas/' . $path;
}
function wp_enqueue_script( $handle, $src, $deps = array(), $version = false, $footer = false ) {
	$GLOBALS['kompas_test']['scripts'][ $handle ] = array( 'src' => $src, 'inline' => '' );
}
function wp_add_inline_script( $handle, $code, $position = 'after' ) {
	$GLOBALS['kompas_test']['scripts'][ $handle ]['inline'] .= $code;
}
function add_submenu_page( $parent, $page_title, $menu_title, $capability, $slug, $callback ) {
	$GLOBALS['kompas_test']['menu'][] = compact( 'parent', 'page_title', 'menu_title', 'capability', 'slug' );
}
function wp_send_json_success( $data = null, $status = null ) {
	throw new Kompas_Test_Json_Sent( true, $data, $status );
}
function wp_send_json_error( $data = null, $status = null ) {
	throw new Kompas_Test_Json_Sent( false, $data, $status );
}

function is_multisite() {
	return isset( $GLOBALS['kompas_test']['sites'] );
}
function get_sites( $args = array() ) {
	return array_keys( $GLOBALS['kompas_test']['sites'] );
}
/** Each site has its own options and table prefix; switching stashes the current site's. */
function switch_to_blog( $id ) {
	$t = &$GLOBALS['kompas_test'];
	$t['sites'][ $t['blog'] ] = $t['options'];
	$t['stack'][]             = $t['blog'];
	$t['options']             = $t['sites'][ $id ];
	$t['blog']                = $id;
	$GLOBALS['wpdb']->prefix  = 1 === $id ? 'wp_' : 'wp_' . $id . '_';
	return true;
}
function restore_current_blog() {
	$t  = &$GLOBALS['kompas_test'];
	$id = array_pop( $t['stack'] );
	$t['sites'][ $t['blog'] ] = $t['options'];
	$t['options']             = $t['sites'][ $id ];
	$t['blog']                = $id;
	$GLOBALS['wpdb']->prefix  = 1 === $id ? 'wp_' : 'wp_' . $id . '_';
	return true;
}

class Kompas_Test_Wpdb {
	public $prefix = 'wp_';
	public function delete( $table, $where, $format = null ) {
		$GLOBALS['kompas_test']['deleted'][] = array( $table, $where );
		return 1;
	}
}
$GLOBALS['wpdb'] = new Kompas_Test_Wpdb();

require_once dirname( __DIR__ ) . '/includes/class-kompas-token.php';
require_once dirname( __DIR__ ) . '/includes/class-kompas-connection.php';
require_once dirname( __DIR__ ) . '/includes/class-kompas-cart.php';
require_once dirname( __DIR__ ) . '/includes/class-kompas-admin.php';
require_once dirname( __DIR__ ) . '/includes/class-kompas-webhooks.php';

kompas_test_reset();
