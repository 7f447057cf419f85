<?php
/**
 * Plugin Name:       Kompas
 * Plugin URI:        https://github.com/kompas/kompas
 * Description:       The Kompas KPI panel inside WooCommerce: sales, orders, returns, refunds, customers and cart abandonment, counted from your store's own events.
 * Version:           0.1.0
 * Requires at least: 6.3
 * Requires PHP:      7.4
 * Author:            Kompas
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       kompas
 * Domain Path:       /languages
 * Requires Plugins:  woocommerce
 * WC requires at least: 8.0
 *
 * @package Kompas
 */

defined( 'ABSPATH' ) || exit;

define( 'KOMPAS_VERSION', '0.1.0' );
define( 'KOMPAS_PLUGIN_FILE', __FILE__ );
define( 'KOMPAS_PLUGIN_DIR', plugin_dir_path( __FILE__ ) );

if ( ! defined( 'KOMPAS_APP_URL' ) ) {
	// The Kompas service. Self-hosters define their own in wp-config.php.
	define( 'KOMPAS_APP_URL', 'https://app.kompas.example' );
}

require_once KOMPAS_PLUGIN_DIR . 'includes/class-kompas-token.php';
require_once KOMPAS_PLUGIN_DIR . 'includes/class-kompas-connection.php';
require_once KOMPAS_PLUGIN_DIR . 'includes/class-kompas-cart.php';
require_once KOMPAS_PLUGIN_DIR . 'includes/class-kompas-admin.php';
require_once KOMPAS_PLUGIN_DIR . 'includes/class-kompas-webhooks.php';

/**
 * Wires the plugin's hooks once WordPress has loaded the plugins.
 */
function kompas_init() {
	load_plugin_textdomain( 'kompas', false, dirname( plugin_basename( KOMPAS_PLUGIN_FILE ) ) . '/languages' );
	$connection = new Kompas_Connection();
	$connection->register();
	if ( ! class_exists( 'WooCommerce' ) ) {
		add_action( 'admin_notices', 'kompas_needs_woocommerce' );
		return;
	}
	( new Kompas_Admin( $connection ) )->register();
	( new Kompas_Cart( $connection ) )->register();
	( new Kompas_Webhooks( $connection ) )->register();
}
add_action( 'plugins_loaded', 'kompas_init' );

/**
 * Says why Kompas does nothing without WooCommerce.
 */
function kompas_needs_woocommerce() {
	if ( current_user_can( 'activate_plugins' ) ) {
		echo '<div class="notice notice-warning"><p>' . esc_html__( 'Kompas needs WooCommerce: activate WooCommerce to connect your store.', 'kompas' ) . '</p></div>';
	}
}

// Kompas reads orders through the REST API only, so it works with both order storages.
add_action(
	'before_woocommerce_init',
	function () {
		if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', KOMPAS_PLUGIN_FILE, true );
		}
	}
);
