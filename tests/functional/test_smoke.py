from tests.helpers import payload


def test_order_create_is_counted(send, shopify_shop, runner):
    order = payload("shopify", "orders-create")
    order["test"] = False
    r = send("shopify", "orders/create", order)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "processed"
